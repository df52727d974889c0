# Golden values for the fixed-horizon checks added by the statistics issue, from R itself:
#
#   Rscript test/stats/golden/fixed-horizon.R   # writes fixed-horizon.json beside this file
#
#   binomial        binom.test(x, n, p, alternative, conf.level): p-value and Clopper-Pearson interval
#   poisson         poisson.test(c(x, y), c(tX, tY), r, alternative, conf.level): p, rate ratio, interval
#   brownForsythe   Brown-Forsythe test: |v - median(group)| compared between groups, by
#                   oneway.test(z ~ g, var.equal = TRUE) (F, two-sided p) and
#                   t.test(zx, zy, var.equal = TRUE, alternative = "greater") (one-sided p)
#   holm            p.adjust(p, "holm")
#   special         pbeta, qbeta, pt, qt, pf on a grid, for src/stats/special.ts
#
# Numbers are written with 17 significant digits; Inf is written as null.

stopifnot(getRversion() >= "4.0.0")
set.seed(20240401)

num <- function(v) if (is.infinite(v)) "null" else sprintf("%.17g", v)
to_json <- function(x) {
  if (is.list(x)) {
    if (!is.null(names(x))) {
      parts <- vapply(names(x), function(k) paste0("\"", k, "\":", to_json(x[[k]])), "")
      return(paste0("{", paste(parts, collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  if (is.character(x)) return(if (length(x) == 1 && !inherits(x, "AsIs")) paste0("\"", x, "\"") else
    paste0("[", paste0("\"", x, "\"", collapse = ","), "]"))
  if (length(x) == 1 && !inherits(x, "AsIs")) return(num(x))
  paste0("[", paste(vapply(as.numeric(x), num, ""), collapse = ","), "]")
}

# --- binom.test -------------------------------------------------------------------
binomial <- list()
add_binom <- function(x, n, p, alternative, conf) {
  r <- binom.test(x, n, p, alternative = alternative, conf.level = conf)
  binomial[[length(binomial) + 1]] <<- list(x = x, n = n, p = p, alternative = alternative, confLevel = conf,
    pValue = r$p.value, confInt = I(as.numeric(r$conf.int)))
}
for (alt in c("two.sided", "less", "greater")) {
  add_binom(0, 4, 0.5, alt, 0.95)
  add_binom(4, 4, 0.5, alt, 0.95)
  add_binom(3, 17, 0.5, alt, 0.95)
  add_binom(12, 13, 0.5555555555555556, alt, 0.9)
  add_binom(7, 100, 0.03, alt, 0.99)
  add_binom(480, 1000, 0.5, alt, 0.95)
  add_binom(5, 20, 0.25, alt, 0.95) # x == n p exactly
  add_binom(1, 3000, 0.001, alt, 0.95)
}

# --- poisson.test -----------------------------------------------------------------
poisson <- list()
add_pois <- function(x, y, tX, tY, r, alternative, conf) {
  res <- poisson.test(c(x, y), c(tX, tY), r = r, alternative = alternative, conf.level = conf)
  poisson[[length(poisson) + 1]] <<- list(x = x, y = y, tX = tX, tY = tY, ratio = r, alternative = alternative,
    confLevel = conf, pValue = res$p.value, estimate = unname(res$estimate), confInt = I(as.numeric(res$conf.int)))
}
for (alt in c("two.sided", "less", "greater")) {
  add_pois(4, 0, 6, 6, 1, alt, 0.95)         # kayenta#426 as published
  add_pois(4, 0, 6, 6, 1.25, alt, 0.95)      # ... against a 25% band
  add_pois(12, 1, 60, 60, 1, alt, 0.95)
  add_pois(12, 1, 60, 60, 1.25, alt, 0.95)
  add_pois(30, 41, 100, 120, 1, alt, 0.9)
  add_pois(180, 200, 600, 600, 0.95, alt, 0.95)
}

# --- Brown-Forsythe -------------------------------------------------------------------
bf_case <- function(name, x, y) {
  zx <- abs(x - median(x)); zy <- abs(y - median(y))
  g <- factor(c(rep("x", length(x)), rep("y", length(y))))
  ow <- oneway.test(c(zx, zy) ~ g, var.equal = TRUE)
  tt <- t.test(zx, zy, var.equal = TRUE, alternative = "greater")
  list(name = name, x = I(x), y = I(y), statistic = unname(ow$statistic), pValue = ow$p.value,
    t = unname(tt$statistic), pGreater = tt$p.value, df = unname(tt$parameter))
}
r6 <- function(v) signif(v, 6)
brownForsythe <- list(
  bf_case("kayenta-780-shape", r6(100 + runif(60, -60, 60)), r6(100 + runif(60, -3, 3))),
  bf_case("kayenta-780-published", c(10, 10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 17, 17.1, 17.2, 17.3, 17.4, 17.5, 17.6, 17.7),
    c(1, 100, 4, 101, 5, 102, 6, 103, 7, 104, 8, 105, 9, 106, 17)),
  bf_case("lognormal-equal", r6(rlnorm(80, 5, 0.3)), r6(rlnorm(90, 5, 0.3))),
  bf_case("lognormal-wider", r6(rlnorm(40, 5, 0.6)), r6(rlnorm(45, 5, 0.3))),
  bf_case("small-odd", c(3, 1, 4, 1, 5), c(9, 2, 6, 5, 3, 5)),
  bf_case("ties", as.numeric(rpois(50, 3)), as.numeric(rpois(50, 3)))
)

# --- p.adjust(holm) ---------------------------------------------------------------
holm_case <- function(p) list(p = I(p), adjusted = I(p.adjust(p, "holm")))
holm <- list(
  holm_case(c(0.01, 0.04, 0.03, 0.005)),
  holm_case(c(0.5)),
  holm_case(c(0.001, 0.001, 0.2, 0.9, 0.04)),
  holm_case(c(1e-12, 0.3, 0.02, 0.02, 0.6, 0.011, 0.049))
)

# --- special functions ------------------------------------------------------------------
special <- list()
for (a in c(0.5, 1, 2.5, 30, 1e4)) for (b in c(0.5, 3, 200, 2e5)) for (x in c(1e-6, 0.01, 0.3, 0.5, 0.9, 0.999)) {
  special[[length(special) + 1]] <- list(fn = "pbeta", x = x, a = a, b = b, value = pbeta(x, a, b))
}
for (a in c(0.5, 3, 40, 5000)) for (b in c(0.5, 2, 700)) for (p in c(1e-8, 0.025, 0.5, 0.975)) {
  special[[length(special) + 1]] <- list(fn = "qbeta", x = p, a = a, b = b, value = qbeta(p, a, b))
}
for (df in c(1, 3, 9.5, 60, 1000)) for (t in c(-4, -0.5, 0.7, 2.2, 12)) {
  special[[length(special) + 1]] <- list(fn = "ptUpper", x = t, a = df, b = 0, value = pt(t, df, lower.tail = FALSE))
}
for (df in c(1, 4, 9, 120)) for (p in c(1e-12, 1e-4, 0.025, 0.3)) {
  special[[length(special) + 1]] <- list(fn = "qtUpper", x = p, a = df, b = 0, value = qt(p, df, lower.tail = FALSE))
}
for (d1 in c(1, 3)) for (d2 in c(2, 10, 500)) for (f in c(0.1, 1, 4.5, 40)) {
  special[[length(special) + 1]] <- list(fn = "pfUpper", x = f, a = d1, b = d2, value = pf(f, d1, d2, lower.tail = FALSE))
}

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg) == 1) dirname(normalizePath(file_arg)) else "."
out <- list(generator = paste("test/stats/golden/fixed-horizon.R,", R.version.string),
  binomial = binomial, poisson = poisson, brownForsythe = brownForsythe, holm = holm, special = special)
writeLines(to_json(out), file.path(here, "fixed-horizon.json"))
cat("wrote", file.path(here, "fixed-horizon.json"), "\n")
