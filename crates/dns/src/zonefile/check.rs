//! `dermaga dns check`: the checks of named-checkzone over a loaded zone.
//!
//! Syntax errors, classes other than IN and out-of-zone data are already load errors (as in
//! NSD); this module looks at the zone as a whole: SOA and apex NS, CNAME exclusivity, glue,
//! MX/NS/SRV targets, duplicate records and TTLs inside an RRset.

use std::cmp::Ordering;
use std::fmt;

use bytes::Bytes;
use domain::base::iana::Rtype;
use domain::base::rdata::ComposeRecordData;
use domain::base::Name;

use super::scanner::fqdn;
use std::path::Path;

use super::{load_zone_file, LoadedZone, RecordData, SourceLocation, ZoneFileError, ZoneRecord};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding of [`check_zone`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Option<SourceLocation>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: error: message`, as compilers print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match &self.location {
            Some(l) => write!(f, "{l}: {sev}: {}", self.message),
            None => write!(f, "{sev}: {}", self.message),
        }
    }
}

/// One line per diagnostic, as `dermaga dns check` prints them.
pub fn format_diagnostics(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(|d| d.to_string()).collect()
}

/// What `dermaga dns check FILE [--origin NAME]` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// `file:line:column: error|warning: message`, load findings first, then zone checks.
    pub lines: Vec<String>,
    pub errors: usize,
    pub warnings: usize,
    /// The zone's origin when the file loaded.
    pub origin: Option<String>,
    /// Number of records when the file loaded.
    pub records: usize,
}

impl CheckReport {
    /// Whether the zone may be served (no errors; warnings allowed).
    pub fn ok(&self) -> bool {
        self.errors == 0
    }
}

/// Loads a zone file and checks it: everything `dermaga dns check` prints.
pub fn check_zone_file(path: &Path, origin: Option<&Name<Bytes>>) -> CheckReport {
    let error_line = |e: &ZoneFileError| format!("{}: error: {}", e.location, e.message);
    match load_zone_file(path, origin) {
        Err(e) => CheckReport {
            lines: e.errors.iter().map(error_line).collect(),
            errors: e.errors.len(),
            warnings: 0,
            origin: None,
            records: 0,
        },
        Ok(zone) => {
            let diags = check_zone(&zone);
            let mut lines: Vec<String> = zone
                .warnings
                .iter()
                .map(|w| format!("{}: warning: {}", w.location, w.message))
                .collect();
            lines.extend(format_diagnostics(&diags));
            let errors = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            CheckReport {
                warnings: lines.len() - errors,
                errors,
                lines,
                origin: Some(fqdn(&zone.origin)),
                records: zone.records.len(),
            }
        }
    }
}

/// FNV-1a over the lowercased wire form: groups owners without allocating per record.
fn name_hash(wire: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in wire {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Case-insensitive order of wire names (any consistent order will do here).
fn cmp_ci(a: &[u8], b: &[u8]) -> Ordering {
    a.iter()
        .map(u8::to_ascii_lowercase)
        .cmp(b.iter().map(u8::to_ascii_lowercase))
}

/// The zone's records sorted by owner (then type, then file order), and lookups by name.
struct Index<'a> {
    records: &'a [ZoneRecord],
    /// (owner hash, type, record index), sorted by hash, owner, type, index.
    sorted: Vec<(u64, u16, u32)>,
    apex: &'a [u8],
}

impl<'a> Index<'a> {
    fn new(zone: &'a LoadedZone) -> Self {
        let records = &zone.records[..];
        let mut sorted: Vec<(u64, u16, u32)> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (name_hash(r.owner.as_slice()), r.rtype().to_int(), i as u32))
            .collect();
        sorted.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| {
                    cmp_ci(
                        records[a.2 as usize].owner.as_slice(),
                        records[b.2 as usize].owner.as_slice(),
                    )
                })
                .then(a.1.cmp(&b.1))
                .then(a.2.cmp(&b.2))
        });
        Index {
            records,
            sorted,
            apex: zone.origin.as_slice(),
        }
    }

    fn owner_of(&self, entry: &(u64, u16, u32)) -> &'a [u8] {
        self.records[entry.2 as usize].owner.as_slice()
    }

    /// The run of `sorted` whose owner is `name`.
    fn group(&self, name: &[u8]) -> &[(u64, u16, u32)] {
        let h = name_hash(name);
        let lo = self.sorted.partition_point(|e| e.0 < h);
        let hi = self.sorted.partition_point(|e| e.0 <= h);
        let run = &self.sorted[lo..hi];
        // Hash collisions are sorted apart by name.
        let a = run.partition_point(|e| cmp_ci(self.owner_of(e), name) == Ordering::Less);
        let b = run.partition_point(|e| cmp_ci(self.owner_of(e), name) != Ordering::Greater);
        &run[a..b]
    }

    fn records_at(&self, name: &[u8]) -> impl Iterator<Item = &'a ZoneRecord> + '_ {
        self.group(name).iter().map(|e| &self.records[e.2 as usize])
    }

    fn has_type(&self, name: &[u8], rtype: Rtype) -> bool {
        self.group(name).iter().any(|e| e.1 == rtype.to_int())
    }

    fn has_address(&self, name: &[u8]) -> bool {
        self.has_type(name, Rtype::A) || self.has_type(name, Rtype::AAAA)
    }

    fn is_apex(&self, name: &[u8]) -> bool {
        cmp_ci(name, self.apex) == Ordering::Equal
    }

    fn in_zone(&self, name: &[u8]) -> bool {
        let n = self.apex.len();
        name.len() >= n && cmp_ci(&name[name.len() - n..], self.apex) == Ordering::Equal && {
            // The suffix must start at a label boundary.
            let mut p = 0;
            while p < name.len() - n {
                p += 1 + name[p] as usize;
            }
            p == name.len() - n
        }
    }

    /// The zone cut (a name below the apex with NS records) at or above `name`, if any.
    fn cut_at_or_above<'n>(&self, name: &'n [u8]) -> Option<&'n [u8]> {
        let mut p = 0;
        while name.len() - p > self.apex.len() {
            let suffix = &name[p..];
            if self.has_type(suffix, Rtype::NS) {
                return Some(suffix);
            }
            p += 1 + name[p] as usize;
        }
        None
    }
}

fn target_of(data: &RecordData) -> Option<&Name<Bytes>> {
    match data {
        RecordData::Ns(ns) => Some(ns.nsdname()),
        RecordData::Mx(mx) => Some(mx.exchange()),
        RecordData::Srv(srv) => Some(srv.target()),
        _ => None,
    }
}

/// Checks a loaded zone as named-checkzone does; errors make a zone unfit to serve.
pub fn check_zone(zone: &LoadedZone) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let ix = Index::new(zone);
    let origin = fqdn(&zone.origin);
    let first_file = zone.records.first().map(|r| SourceLocation {
        file: r.location.file.clone(),
        line: 1,
        column: 1,
    });
    let mut push = |severity, location: Option<&SourceLocation>, message: String| {
        diags.push(Diagnostic {
            severity,
            location: location.cloned(),
            message,
        })
    };

    // SOA: exactly one, at the apex.
    let soas: Vec<&ZoneRecord> = ix
        .records_at(ix.apex)
        .filter(|r| r.rtype() == Rtype::SOA)
        .collect();
    match soas.split_first() {
        None => push(
            Severity::Error,
            first_file.as_ref(),
            format!("no SOA record at the zone apex {origin}"),
        ),
        Some((first, rest)) => {
            for r in rest {
                push(
                    Severity::Error,
                    Some(&r.location),
                    format!(
                        "more than one SOA record at {origin} (first at {})",
                        first.location
                    ),
                );
            }
        }
    }
    if !ix.has_type(ix.apex, Rtype::NS) {
        let at = soas.first().map(|r| &r.location).or(first_file.as_ref());
        push(
            Severity::Error,
            at,
            format!("no NS records at the zone apex {origin}"),
        );
    }

    for r in &zone.records {
        let owner = r.owner.as_slice();
        match r.rtype() {
            Rtype::SOA if !ix.is_apex(owner) => push(
                Severity::Error,
                Some(&r.location),
                format!(
                    "SOA record for {} is not at the zone apex {origin}",
                    fqdn(&r.owner)
                ),
            ),
            Rtype::CNAME => {
                if let Some(o) = ix
                    .records_at(owner)
                    .find(|o| !matches!(o.rtype(), Rtype::CNAME | Rtype::RRSIG | Rtype::NSEC))
                {
                    push(
                        Severity::Error,
                        Some(&r.location),
                        format!(
                            "CNAME and other data at {} ({} at {})",
                            fqdn(&r.owner),
                            o.rtype(),
                            o.location
                        ),
                    );
                }
                if let Some(f) = ix
                    .records_at(owner)
                    .find(|o| o.rtype() == Rtype::CNAME)
                    .filter(|f| f.location != r.location)
                {
                    push(
                        Severity::Error,
                        Some(&r.location),
                        format!(
                            "more than one CNAME at {} (first at {})",
                            fqdn(&r.owner),
                            f.location
                        ),
                    );
                }
            }
            _ => {}
        }
        let Some(target) = target_of(&r.data) else {
            continue;
        };
        let t = target.as_slice();
        if !ix.in_zone(t) {
            continue;
        }
        let rtype = r.rtype();
        let severity = if rtype == Rtype::SRV {
            Severity::Warning
        } else {
            Severity::Error
        };
        if ix.has_type(t, Rtype::CNAME) {
            push(
                severity,
                Some(&r.location),
                format!("{rtype} target {} is a CNAME (illegal)", fqdn(target)),
            );
            continue;
        }
        if ix.has_address(t) {
            continue;
        }
        if rtype == Rtype::NS {
            match ix.cut_at_or_above(t) {
                Some(cut) => push(
                    Severity::Error,
                    Some(&r.location),
                    format!("missing glue: NS target {} is below the delegation {} but has no A or AAAA record", fqdn(target), wire_to_text(cut)),
                ),
                None => push(Severity::Error, Some(&r.location), format!("NS target {} is in the zone but has no A or AAAA record", fqdn(target))),
            }
        } else if ix.cut_at_or_above(t).is_none() {
            push(
                Severity::Warning,
                Some(&r.location),
                format!("{rtype} target {} has no A or AAAA record", fqdn(target)),
            );
        }
    }

    // Duplicates and TTLs within RRsets: runs of one owner and type in the sorted index, in
    // file order within a run. Findings are reported in file order.
    let mut later: Vec<(u32, Diagnostic)> = Vec::new();
    let mut canon_a = Vec::new();
    let mut canon_b = Vec::new();
    let mut run_start = 0;
    while run_start < ix.sorted.len() {
        let head = ix.sorted[run_start];
        let mut run_end = run_start + 1;
        while run_end < ix.sorted.len()
            && ix.sorted[run_end].0 == head.0
            && ix.sorted[run_end].1 == head.1
            && cmp_ci(ix.owner_of(&ix.sorted[run_end]), ix.owner_of(&head)) == Ordering::Equal
        {
            run_end += 1;
        }
        let run = &ix.sorted[run_start..run_end];
        run_start = run_end;
        let first = &zone.records[run[0].2 as usize];
        let rtype = first.rtype();
        for (k, e) in run.iter().enumerate().skip(1) {
            let r = &zone.records[e.2 as usize];
            // RRSIGs form one RRset per owner but carry the TTL of the set they cover.
            if rtype != Rtype::RRSIG && r.ttl != first.ttl {
                later.push((
                    e.2,
                    Diagnostic {
                        severity: Severity::Warning,
                        location: Some(r.location.clone()),
                        message: format!(
                            "TTL {} differs from TTL {} of the same {rtype} RRset at {} (first at {})",
                            r.ttl.as_secs(),
                            first.ttl.as_secs(),
                            fqdn(&r.owner),
                            first.location
                        ),
                    },
                ));
            }
            // Pairwise within the run; RRsets are small, and a huge one is checked only
            // against its first 64 members so a pathological zone stays linear.
            canon_b.clear();
            if r.data.compose_canonical_rdata(&mut canon_b).is_err() {
                continue;
            }
            let dup = run[k.saturating_sub(64)..k].iter().find(|o| {
                canon_a.clear();
                zone.records[o.2 as usize]
                    .data
                    .compose_canonical_rdata(&mut canon_a)
                    .is_ok()
                    && canon_a == canon_b
            });
            if let Some(o) = dup {
                later.push((
                    e.2,
                    Diagnostic {
                        severity: Severity::Warning,
                        location: Some(r.location.clone()),
                        message: format!(
                            "duplicate {rtype} record at {} (first at {}); it is served once",
                            fqdn(&r.owner),
                            zone.records[o.2 as usize].location
                        ),
                    },
                ));
            }
        }
    }
    later.sort_by_key(|(i, _)| *i);
    diags.extend(later.into_iter().map(|(_, d)| d));
    diags
}

fn wire_to_text(wire: &[u8]) -> String {
    match Name::from_octets(Bytes::copy_from_slice(wire)) {
        Ok(n) => fqdn(&n),
        Err(_) => "?".into(),
    }
}
