/**
 * A spec's source text (YAML or JSON, as it was submitted) with the same
 * redaction as the parsed spec (src/lib/redact.ts), keeping its layout and
 * comments: the YAML document is edited scalar by scalar, not re-rendered.
 */
import { isPair, isScalar, parseDocument, visit } from 'yaml';
import { redact, redactLeaf, redactText } from './redact.ts';

export const SOURCE_WITHHELD = '# source withheld: it could not be parsed for redaction\n';

export function redactSpecSource(source: string, format: 'yaml' | 'json'): string {
  if (format === 'json') {
    try {
      return JSON.stringify(redact(JSON.parse(source) as unknown), null, 2);
    } catch {
      return SOURCE_WITHHELD;
    }
  }
  const doc = parseDocument(source, { uniqueKeys: false });
  if (doc.errors.length > 0) return SOURCE_WITHHELD;
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key') return;
      if (typeof node.value !== 'string' && typeof node.value !== 'number') return;
      const keys = path.filter(isPair).map((p) => String(isScalar(p.key) ? p.key.value : p.key));
      const out = redactLeaf(keys, node.value);
      if (out !== node.value) node.value = out;
    },
  });
  // Then the text rules over the whole of it, for comments (`# token: …`) the visitor does not see.
  return redactText(doc.toString({ lineWidth: 0 }));
}
