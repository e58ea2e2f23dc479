//! Counters, a gauge and histograms of the ingest engine, rendered in the Prometheus text
//! exposition format (version 0.0.4).
//!
//! Std atomics only (a mutex for the labelled counters), so recording costs a few
//! uncontended atomic adds and nothing here needs a metrics crate. Scrape
//! [`IngestMetrics::render`] (the HTTP endpoint serves it at `GET /metrics`).
//!
//! | metric (after the prefix) | type | labels |
//! | --- | --- | --- |
//! | `_accepted_total` | counter | |
//! | `_rejected_total` | counter | `reason` (a [`Rejection`](crate::reason::Rejection) code) |
//! | `_refused_total` | counter | `cause` (see [`REFUSAL_CAUSES`]) |
//! | `_batches_total` | counter | |
//! | `_store_errors_total` | counter | |
//! | `_queue_depth` | gauge | |
//! | `_epochs_closed_total` | counter | |
//! | `_recovery_divergences_total` | counter | |
//! | `_latency_seconds` | histogram | |
//! | `_epoch_close_seconds` | histogram | |

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
    time::Duration,
};

use super::ItemResult;

/// The upper bounds (seconds) of the histogram buckets, besides `+Inf`.
pub const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The causes of refused requests that are always rendered (0 until they happen), so that
/// dashboards see every series from the first scrape. Other causes passed to
/// [`IngestMetrics::refused`] are rendered once counted.
pub const REFUSAL_CAUSES: [&str; 8] = [
    "rate_limited",
    "overloaded",
    "unavailable",
    "shutting_down",
    "too_large",
    "bad_request",
    "unsupported_media_type",
    "timeout",
];

const RELAXED: Ordering = Ordering::Relaxed;

/// A histogram with the fixed [`BUCKETS`].
#[derive(Debug)]
struct Histogram {
    /// Observations per bucket (not cumulative); above the last bound only `count` counts.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some((_, bucket)) = BUCKETS
            .iter()
            .zip(&self.buckets)
            .find(|(le, _)| secs <= **le)
        {
            bucket.fetch_add(1, RELAXED);
        }
        self.sum_nanos
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), RELAXED);
        self.count.fetch_add(1, RELAXED);
    }

    fn count(&self) -> u64 {
        self.count.load(RELAXED)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        family(out, name, help, "histogram");
        let mut cumulative = 0u64;
        for (le, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative = cumulative.saturating_add(bucket.load(RELAXED));
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        // Loaded after the buckets: a concurrent observation may be in a bucket already but
        // not in the count yet; keep the series monotonic.
        let count = self.count().max(cumulative);
        let sum = self.sum_nanos.load(RELAXED) as f64 / 1e9;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// The ingest engine's metrics. Shared (`Arc`) between the engine and its endpoints.
#[derive(Debug)]
pub struct IngestMetrics {
    accepted: AtomicU64,
    rejected: Mutex<BTreeMap<String, u64>>,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    batches: AtomicU64,
    store_errors: AtomicU64,
    queue_depth: AtomicU64,
    epochs_closed: AtomicU64,
    recovery_divergences: AtomicU64,
    latency: Histogram,
    epoch_close: Histogram,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl IngestMetrics {
    /// All zero.
    pub fn new() -> Self {
        IngestMetrics {
            accepted: AtomicU64::new(0),
            rejected: Mutex::new(BTreeMap::new()),
            refused: Mutex::new(BTreeMap::new()),
            batches: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            queue_depth: AtomicU64::new(0),
            epochs_closed: AtomicU64::new(0),
            recovery_divergences: AtomicU64::new(0),
            latency: Histogram::new(),
            epoch_close: Histogram::new(),
        }
    }

    /// Counts the verdicts of a committed batch: accepted items, and rejected ones by reason.
    pub fn record_results(&self, results: &[ItemResult]) {
        let mut accepted = 0u64;
        let mut rejected: Option<MutexGuard<'_, BTreeMap<String, u64>>> = None;
        for result in results {
            match result {
                ItemResult::Accepted { .. } => accepted += 1,
                ItemResult::Rejected { reason } => {
                    let map = rejected.get_or_insert_with(|| lock(&self.rejected));
                    let code = reason.code();
                    match map.get_mut(&*code) {
                        Some(n) => *n = n.saturating_add(1),
                        None => {
                            map.insert(code.into_owned(), 1);
                        }
                    }
                }
            }
        }
        if accepted > 0 {
            self.accepted.fetch_add(accepted, RELAXED);
        }
    }

    /// Counts a request refused before its items reached the engine (a cause from
    /// [`REFUSAL_CAUSES`], or another `snake_case` word).
    pub fn refused(&self, cause: &'static str) {
        let mut map = lock(&self.refused);
        let n = map.entry(cause).or_insert(0);
        *n = n.saturating_add(1);
    }

    /// Records the time from a batch's arrival to its durable acknowledgement.
    pub fn observe_latency(&self, d: Duration) {
        self.latency.observe(d);
    }

    /// Records the time an epoch took to close.
    pub fn observe_epoch_close(&self, d: Duration) {
        self.epoch_close.observe(d);
    }

    /// Sets the number of items waiting in the engine's queue.
    pub fn set_queue_depth(&self, n: u64) {
        self.queue_depth.store(n, RELAXED);
    }

    /// Counts one batch committed to the store.
    pub fn batch_committed(&self) {
        self.batches.fetch_add(1, RELAXED);
    }

    /// Counts one failed store operation.
    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, RELAXED);
    }

    /// Counts one divergence found while recovering state from the store.
    pub fn recovery_divergence(&self) {
        self.recovery_divergences.fetch_add(1, RELAXED);
    }

    /// Counts one closed epoch.
    pub fn epoch_closed(&self) {
        self.epochs_closed.fetch_add(1, RELAXED);
    }

    /// Items accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(RELAXED)
    }

    /// Items rejected so far with the reason code `reason`.
    pub fn rejected(&self, reason: &str) -> u64 {
        lock(&self.rejected).get(reason).copied().unwrap_or(0)
    }

    /// Items rejected so far, all reasons.
    pub fn rejected_total(&self) -> u64 {
        lock(&self.rejected).values().sum()
    }

    /// Requests refused so far for `cause`.
    pub fn refused_count(&self, cause: &str) -> u64 {
        lock(&self.refused).get(cause).copied().unwrap_or(0)
    }

    /// Batches committed so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(RELAXED)
    }

    /// Store errors so far.
    pub fn store_errors(&self) -> u64 {
        self.store_errors.load(RELAXED)
    }

    /// The last queue depth set.
    pub fn queue_depth(&self) -> u64 {
        self.queue_depth.load(RELAXED)
    }

    /// Epochs closed so far.
    pub fn epochs_closed(&self) -> u64 {
        self.epochs_closed.load(RELAXED)
    }

    /// Recovery divergences so far.
    pub fn recovery_divergences(&self) -> u64 {
        self.recovery_divergences.load(RELAXED)
    }

    /// Latency observations so far.
    pub fn latency_count(&self) -> u64 {
        self.latency.count()
    }

    /// Epoch-close observations so far.
    pub fn epoch_close_count(&self) -> u64 {
        self.epoch_close.count()
    }

    /// Every metric in the Prometheus text exposition format 0.0.4, each name starting
    /// with `prefix` (characters not allowed in a metric name become `_`).
    pub fn render(&self, prefix: &str) -> String {
        let p = metric_name(prefix);
        let mut out = String::with_capacity(4096);

        counter(
            &mut out,
            &format!("{p}_accepted_total"),
            "Items accepted, their verdict durable.",
            self.accepted(),
        );

        let name = format!("{p}_rejected_total");
        family(
            &mut out,
            &name,
            "Items rejected, their verdict durable, by reason.",
            "counter",
        );
        for (reason, n) in lock(&self.rejected).iter() {
            let _ = writeln!(out, "{name}{{reason=\"{}\"}} {n}", escape_label(reason));
        }

        let name = format!("{p}_refused_total");
        family(
            &mut out,
            &name,
            "Requests refused before their items reached the engine, by cause.",
            "counter",
        );
        {
            let refused = lock(&self.refused);
            let mut all: BTreeMap<&str, u64> = REFUSAL_CAUSES.iter().map(|c| (*c, 0)).collect();
            for (cause, n) in refused.iter() {
                all.insert(*cause, *n);
            }
            for (cause, n) in all {
                let _ = writeln!(out, "{name}{{cause=\"{}\"}} {n}", escape_label(cause));
            }
        }

        counter(
            &mut out,
            &format!("{p}_batches_total"),
            "Batches committed to the store.",
            self.batches(),
        );
        counter(
            &mut out,
            &format!("{p}_store_errors_total"),
            "Failed store operations.",
            self.store_errors(),
        );
        let name = format!("{p}_queue_depth");
        family(
            &mut out,
            &name,
            "Items waiting in the engine's queue.",
            "gauge",
        );
        let _ = writeln!(out, "{name} {}", self.queue_depth());
        counter(
            &mut out,
            &format!("{p}_epochs_closed_total"),
            "Epochs closed.",
            self.epochs_closed(),
        );
        counter(
            &mut out,
            &format!("{p}_recovery_divergences_total"),
            "Divergences found while recovering state from the store.",
            self.recovery_divergences(),
        );
        self.latency.render(
            &mut out,
            &format!("{p}_latency_seconds"),
            "Time from a batch's arrival to its durable acknowledgement.",
        );
        self.epoch_close.render(
            &mut out,
            &format!("{p}_epoch_close_seconds"),
            "Time taken to close an epoch.",
        );
        out
    }
}

/// `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A counter family with one unlabelled sample.
fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, help, "counter");
    let _ = writeln!(out, "{name} {value}");
}

/// `s` as a metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, other characters replaced by `_`.
fn metric_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for (i, c) in s.chars().enumerate() {
        let ok = c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit());
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
            out.push(c);
        } else {
            out.push(if ok { c } else { '_' });
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// A label value escaped for the text format: `\`, `"` and line feed.
fn escape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A `# HELP` text escaped for the text format: `\` and line feed.
fn escape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::{pipeline::Outcome, reason::Rejection};
    use std::collections::{BTreeSet, HashMap};

    /// One sample line: name, labels (raw, unescaped text between the braces), value.
    fn parse_sample(line: &str) -> (String, Option<String>, f64) {
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let value = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse::<f64>().expect("a float value")
        };
        match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest.strip_suffix('}').expect("closing brace");
                (name.to_string(), Some(labels.to_string()), value)
            }
            None => (series.to_string(), None, value),
        }
    }

    /// Checks the exposition lightly: every sample belongs to a family declared with HELP
    /// and TYPE before it, names are valid, values parse. Returns samples by series.
    fn parse(text: &str) -> HashMap<String, f64> {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helped: BTreeSet<String> = BTreeSet::new();
        let mut samples = HashMap::new();
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, _) = rest.split_once(' ').unwrap();
                assert!(helped.insert(name.to_string()), "HELP twice for {name}");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind));
                assert!(
                    types.insert(name.to_string(), kind.to_string()).is_none(),
                    "TYPE twice for {name}"
                );
            } else {
                assert!(!line.starts_with('#') && !line.is_empty(), "line {line:?}");
                let (name, labels, value) = parse_sample(line);
                assert!(name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'));
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| {
                        name.strip_suffix(*s).filter(|base| {
                            types.get(*base).map(String::as_str) == Some("histogram")
                        })
                    })
                    .unwrap_or(name.as_str())
                    .to_string();
                assert!(types.contains_key(&family), "no TYPE before {line}");
                assert!(helped.contains(&family), "no HELP before {line}");
                assert!(value >= 0.0);
                let key = match labels {
                    Some(l) => format!("{name}{{{l}}}"),
                    None => name,
                };
                assert!(samples.insert(key, value).is_none(), "duplicate {line}");
            }
        }
        samples
    }

    #[test]
    fn counts_results_by_reason() {
        let m = IngestMetrics::new();
        m.record_results(&[
            ItemResult::Accepted {
                epoch: 1,
                digest: "00".into(),
                outcome: Outcome::Recorded,
            },
            ItemResult::Rejected {
                reason: Rejection::BadSignature,
            },
            ItemResult::Rejected {
                reason: Rejection::BadSignature,
            },
            ItemResult::Rejected {
                reason: Rejection::Malformed,
            },
        ]);
        assert_eq!(m.accepted(), 1);
        assert_eq!(m.rejected("bad_signature"), 2);
        assert_eq!(m.rejected("malformed"), 1);
        assert_eq!(m.rejected("stale"), 0);
        assert_eq!(m.rejected_total(), 3);
        m.record_results(&[]);
        assert_eq!(m.accepted(), 1);
    }

    #[test]
    fn renders_valid_exposition() {
        let m = IngestMetrics::new();
        m.record_results(&[
            ItemResult::Accepted {
                epoch: 1,
                digest: "00".into(),
                outcome: Outcome::Recorded,
            },
            ItemResult::Rejected {
                reason: Rejection::Stale,
            },
        ]);
        m.refused("rate_limited");
        m.refused("rate_limited");
        m.refused("something_else");
        m.batch_committed();
        m.store_error();
        m.set_queue_depth(17);
        m.epoch_closed();
        m.recovery_divergence();
        m.observe_latency(Duration::from_micros(500));
        m.observe_latency(Duration::from_millis(30));
        m.observe_latency(Duration::from_secs(60));
        m.observe_epoch_close(Duration::from_secs(2));
        assert_eq!(m.refused_count("rate_limited"), 2);
        assert_eq!(m.refused_count("timeout"), 0);
        assert_eq!(m.latency_count(), 3);
        assert_eq!(m.epoch_close_count(), 1);

        let text = m.render("depin_ingest");
        let s = parse(&text);
        assert_eq!(s["depin_ingest_accepted_total"], 1.0);
        assert_eq!(s["depin_ingest_rejected_total{reason=\"stale\"}"], 1.0);
        assert_eq!(s["depin_ingest_refused_total{cause=\"rate_limited\"}"], 2.0);
        assert_eq!(s["depin_ingest_refused_total{cause=\"timeout\"}"], 0.0);
        assert_eq!(
            s["depin_ingest_refused_total{cause=\"something_else\"}"],
            1.0
        );
        assert_eq!(s["depin_ingest_batches_total"], 1.0);
        assert_eq!(s["depin_ingest_store_errors_total"], 1.0);
        assert_eq!(s["depin_ingest_queue_depth"], 17.0);
        assert_eq!(s["depin_ingest_epochs_closed_total"], 1.0);
        assert_eq!(s["depin_ingest_recovery_divergences_total"], 1.0);

        // Cumulative buckets, +Inf equal to the count, sum in seconds.
        let h = "depin_ingest_latency_seconds";
        assert_eq!(s[&format!("{h}_bucket{{le=\"0.001\"}}")], 1.0);
        assert_eq!(s[&format!("{h}_bucket{{le=\"0.025\"}}")], 1.0);
        assert_eq!(s[&format!("{h}_bucket{{le=\"0.05\"}}")], 2.0);
        assert_eq!(s[&format!("{h}_bucket{{le=\"10\"}}")], 2.0);
        assert_eq!(s[&format!("{h}_bucket{{le=\"+Inf\"}}")], 3.0);
        assert_eq!(s[&format!("{h}_count")], 3.0);
        assert!((s[&format!("{h}_sum")] - 60.0305).abs() < 1e-9);
        let mut last = 0.0;
        for le in BUCKETS {
            let v = s[&format!("{h}_bucket{{le=\"{le}\"}}")];
            assert!(v >= last);
            last = v;
        }
        let e = "depin_ingest_epoch_close_seconds";
        assert_eq!(s[&format!("{e}_bucket{{le=\"1\"}}")], 0.0);
        assert_eq!(s[&format!("{e}_bucket{{le=\"2.5\"}}")], 1.0);
        assert_eq!(s[&format!("{e}_count")], 1.0);
    }

    #[test]
    fn empty_metrics_render_and_prefix_is_sanitized() {
        let text = IngestMetrics::default().render("my-oracle.v1");
        let s = parse(&text);
        assert_eq!(s["my_oracle_v1_accepted_total"], 0.0);
        assert_eq!(s["my_oracle_v1_latency_seconds_bucket{le=\"+Inf\"}"], 0.0);
        for cause in REFUSAL_CAUSES {
            assert_eq!(
                s[&format!("my_oracle_v1_refused_total{{cause=\"{cause}\"}}")],
                0.0
            );
        }
        assert_eq!(metric_name("9x"), "_9x");
        assert_eq!(metric_name(""), "_");
        assert_eq!(metric_name("a:b_c9"), "a:b_c9");
    }

    #[test]
    fn escapes_label_values_and_help() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("policy/code"), "policy/code");
        assert_eq!(escape_help("a\\b\nc\"d"), "a\\\\b\\nc\"d");
    }
}
