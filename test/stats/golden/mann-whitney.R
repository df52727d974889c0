# Golden values for src/stats/mann-whitney.ts, from R's own wilcox.test.
#
#   Rscript test/stats/golden/mann-whitney.R   # writes mann-whitney.json beside this file
#
# For every case the fixture holds the input data and two kinds of reference:
#
#   r.*      what wilcox.test(x, y, exact = FALSE, correct = TRUE, conf.int = TRUE)
#            reports. Its estimate and interval come from uniroot(tol = 1e-4), so
#            they are only good to about 1e-4.
#   exact.*  the precise roots of the very function R hands to uniroot (W below,
#            copied from stats:::wilcox.test.default in R 4.2, two-sample,
#            normal-approximation branch). W(d) is a step function of the shift d
#            that only jumps at pairwise differences x[i] - y[j], so its roots are
#            located exactly by evaluating W between consecutive distinct
#            differences and bisecting on the index. Where W equals the target on
#            a whole interval (the estimate when length(x) * length(y) is even),
#            every point of the interval is a root: uniroot stops at whichever
#            point it happens to try first, and the precise answer recorded here
#            is the interval's midpoint, with the interval itself alongside.
#
# The data are rounded to 6 significant digits, as a scraped metric would be,
# and every number is written with 17 significant digits, so the JavaScript
# side reads exactly the doubles R used.

stopifnot(getRversion() >= "4.0.0")

# --- R's W(d), verbatim in substance from stats:::wilcox.test.default -------
make_W <- function(x, y, alternative, correct) {
  n.x <- as.double(length(x))
  n.y <- as.double(length(y))
  function(d) {
    dr <- c(x - d, y)
    dr <- rank(dr)
    NTIES.CI <- table(dr)
    dz <- sum(dr[seq_along(x)]) - n.x * (n.x + 1) / 2 - n.x * n.y / 2
    CORRECTION.CI <- if (correct) {
      switch(alternative, two.sided = sign(dz) * 0.5, greater = 0.5, less = -0.5)
    } else 0
    SIGMA.CI <- sqrt((n.x * n.y / 12) * ((n.x + n.y + 1) -
      sum(NTIES.CI^3 - NTIES.CI) / ((n.x + n.y) * (n.x + n.y - 1))))
    (dz - CORRECTION.CI) / SIGMA.CI
  }
}

# Root set of W(d) - zq, where W is non-increasing between pairwise differences.
# Returns c(lo, hi): the closed interval of roots (lo == hi for a jump point),
# clamped to [min difference, max difference] as R's search interval is.
exact_root_set <- function(W, v, zq) {
  K <- length(v)
  # probe j (0..K) lies inside the open interval after v[j]
  probe <- function(j) {
    if (j == 0) v[1] - 1 else if (j == K) v[K] + 1 else (v[j] + v[j + 1]) / 2
  }
  h <- function(j) W(probe(j)) - zq
  # first j in 0..K with pred(h(j)) TRUE, K + 1 if none (h is non-increasing)
  first <- function(pred) {
    lo <- 0; hi <- K + 1
    while (lo < hi) {
      mid <- (lo + hi) %/% 2
      if (pred(h(mid))) hi <- mid else lo <- mid + 1
    }
    lo
  }
  jz <- first(function(f) f <= 0)
  jn <- first(function(f) f < 0)
  at <- function(j) v[min(max(j, 1), K)]
  c(at(jz), at(jn))
}

exact_reference <- function(x, y, alternative, conf.level) {
  v <- sort(unique(as.vector(outer(x, y, "-"))))
  mumin <- min(x) - max(y)
  mumax <- max(x) - min(y)
  W <- make_W(x, y, alternative, correct = TRUE)
  Wmumin <- W(mumin)
  Wmumax <- W(mumax)
  alpha <- 1 - conf.level
  # R's root(): the early returns at the ends of the search interval, else the root.
  root <- function(zq) {
    if (Wmumin - zq <= 0) return(mumin)
    if (Wmumax - zq >= 0) return(mumax)
    s <- exact_root_set(W, v, zq)
    (s[1] + s[2]) / 2
  }
  ci <- switch(alternative,
    two.sided = c(root(qnorm(alpha / 2, lower.tail = FALSE)), root(qnorm(alpha / 2))),
    greater = c(root(qnorm(alpha, lower.tail = FALSE)), Inf),
    less = c(-Inf, root(qnorm(alpha))))
  # R sets correct <- FALSE before solving for the estimate.
  est_set <- exact_root_set(make_W(x, y, alternative, correct = FALSE), v, 0)
  list(estimate = (est_set[1] + est_set[2]) / 2, estimateRootSet = est_set, confInt = ci)
}

# --- cases --------------------------------------------------------------------
set.seed(20240607)
r6 <- function(v) signif(v, 6)
cases <- list()
add <- function(name, description, x, y, alternative = "two.sided", conf.level = 0.95) {
  cases[[length(cases) + 1L]] <<- list(name = name, description = description,
    x = x, y = y, alternative = alternative, conf.level = conf.level)
}

add("small-no-shift", "8 vs 10 normal draws, no shift",
    r6(rnorm(8)), r6(rnorm(10)))
add("small-shift", "12 vs 12 normal draws, shift of 1.5 sd",
    r6(rnorm(12, 1.5)), r6(rnorm(12)))
add("tiny-even", "4 vs 6: mn even, so the estimate's root set is a wide interval",
    r6(rnorm(4, 0.3)), r6(rnorm(6)))
add("tiny-clamped", "3 vs 3: the interval hits R's search range [min diff, max diff]",
    r6(rnorm(3, 1)), r6(rnorm(3)))
add("unequal-5-vs-200", "very unequal sizes",
    r6(rnorm(5, 0.5)), r6(rnorm(200)))
add("large-no-shift", "500 vs 400, no shift",
    r6(rnorm(500)), r6(rnorm(400)))
add("large-small-shift", "1000 vs 1200, shift of 0.1 sd",
    r6(rnorm(1000, 0.1)), r6(rnorm(1200)))
add("clear-shift", "60 vs 60, shift of 3 sd: tiny p-value",
    r6(rnorm(60, 3)), r6(rnorm(60)))
add("heavy-ties-likert", "integers 1..5 vs 1..6: a handful of distinct values",
    as.numeric(sample(1:5, 80, replace = TRUE)), as.numeric(sample(1:6, 70, replace = TRUE)))
add("integer-counts", "Poisson counts 4 vs 5",
    as.numeric(rpois(200, 4)), as.numeric(rpois(150, 5)))
add("negative-values", "all-negative values, shift of +2",
    r6(rnorm(50, -10, 3)), r6(rnorm(45, -12, 3)))
add("lognormal-latency", "latencies in ms, 5% slower, rounded to 0.1 ms (ties across groups)",
    round(rlnorm(300, log(126), 0.4), 1), round(rlnorm(300, log(120), 0.4), 1))
add("lognormal-heavy-tail", "latencies with 3% timeouts at 2000 ms in the experiment",
    c(round(rlnorm(194, log(80), 0.6)), rep(2000, 6)), round(rlnorm(180, log(80), 0.6)))
add("one-sided-greater", "alternative greater, true shift +0.5",
    r6(rnorm(40, 0.5)), r6(rnorm(35)), alternative = "greater")
add("one-sided-less", "alternative less, true shift -0.4",
    r6(rnorm(30, -0.4)), r6(rnorm(45)), alternative = "less")
add("greater-wrong-way", "alternative greater but the shift is negative: p near 1",
    r6(rnorm(25, -1)), r6(rnorm(25)), alternative = "greater")
add("conf-98-two-sided", "98% interval, two-sided",
    r6(rnorm(70, 0.2)), r6(rnorm(80)), conf.level = 0.98)
add("conf-98-greater", "98% interval, one-sided greater",
    r6(rexp(50, 1 / 1.3)), r6(rexp(60)), alternative = "greater", conf.level = 0.98)
add("conf-98-less", "98% interval, one-sided less, integer data",
    as.numeric(rbinom(90, 20, 0.45)), as.numeric(rbinom(85, 20, 0.5)), alternative = "less", conf.level = 0.98)
add("constant-vs-varying", "one group constant, the other varying around it",
    rep(5, 20), as.numeric(sample(3:7, 25, replace = TRUE)))
add("quantized-ms", "integer milliseconds, many ties within and across groups",
    as.numeric(round(rgamma(400, 9, 1 / 11))), as.numeric(round(rgamma(380, 9, 1 / 10))))
add("zero-inflated", "40% exact zeros in both groups (queue length): the ties at d = 0 are not the ties elsewhere",
    c(rep(0, 80), r6(rlnorm(120, 0.3))), c(rep(0, 90), r6(rlnorm(110))))
add("large-2000", "2000 vs 2000, checks the size the module promises",
    r6(rnorm(2000, 0.05)), r6(rnorm(2000)))

# --- run ------------------------------------------------------------------------
num <- function(v) {
  if (length(v) == 1 && is.infinite(v)) return("null")
  sprintf("%.17g", v)
}
arr <- function(v) paste0("[", paste(vapply(v, num, ""), collapse = ","), "]")
str <- function(s) paste0("\"", gsub("\"", "\\\\\"", s), "\"")

out <- character()
for (c in cases) {
  res <- wilcox.test(c$x, c$y, alternative = c$alternative, exact = FALSE,
                     correct = TRUE, conf.int = TRUE, conf.level = c$conf.level)
  ex <- exact_reference(c$x, c$y, c$alternative, c$conf.level)
  out <- c(out, paste0(
    "{", str("name"), ":", str(c$name),
    ",", str("description"), ":", str(c$description),
    ",", str("alternative"), ":", str(c$alternative),
    ",", str("confLevel"), ":", num(c$conf.level),
    ",", str("x"), ":", arr(c$x),
    ",", str("y"), ":", arr(c$y),
    ",", str("r"), ":{",
      str("statistic"), ":", num(unname(res$statistic)),
      ",", str("pValue"), ":", num(res$p.value),
      ",", str("estimate"), ":", num(unname(res$estimate)),
      ",", str("confInt"), ":", arr(as.numeric(res$conf.int)), "}",
    ",", str("exact"), ":{",
      str("estimate"), ":", num(ex$estimate),
      ",", str("estimateRootSet"), ":", arr(ex$estimateRootSet),
      ",", str("confInt"), ":", arr(ex$confInt), "}",
    "}"))
}

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg) == 1) dirname(normalizePath(file_arg)) else "."
json <- paste0(
  "{", str("generator"), ":", str(paste("test/stats/golden/mann-whitney.R,", R.version.string)),
  ",", str("tolRoot"), ":1e-4",
  ",", str("cases"), ":[\n", paste(out, collapse = ",\n"), "\n]}\n")
writeLines(json, file.path(here, "mann-whitney.json"), sep = "")
cat("wrote", length(cases), "cases to", file.path(here, "mann-whitney.json"), "\n")
