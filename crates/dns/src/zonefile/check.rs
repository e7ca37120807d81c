//! `dermaga dns check`: the checks of named-checkzone over a loaded zone.
//!
//! Syntax errors, classes other than IN and out-of-zone data are already load errors (as in
//! NSD); this module looks at the zone as a whole: SOA and apex NS, CNAME exclusivity, glue,
//! MX/NS/SRV targets, duplicate records and TTLs inside an RRset.

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use domain::base::iana::Rtype;
use domain::base::rdata::ComposeRecordData;
use domain::base::Name;

use super::scanner::fqdn;
use super::{LoadedZone, RecordData, SourceLocation, ZoneRecord};

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

/// One line per diagnostic, as `dermaga dns check` prints them: the load warnings of the zone
/// first, then the diagnostics.
pub fn format_diagnostics(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(|d| d.to_string()).collect()
}

/// Lowercase wire form of a name: the key that groups records by owner.
fn key(name: &Name<Bytes>) -> Vec<u8> {
    name.as_slice().iter().map(u8::to_ascii_lowercase).collect()
}

/// The wire suffixes of `name` strictly between it and the apex (its proper ancestors inside
/// the zone, nearest first), as offsets into its wire form.
fn ancestors_below_apex(wire: &[u8], apex_len: usize) -> impl Iterator<Item = usize> + '_ {
    let mut p = 0;
    std::iter::from_fn(move || {
        if p >= wire.len() || wire[p] == 0 {
            return None;
        }
        p += 1 + wire[p] as usize;
        (wire.len() - p > apex_len).then_some(p)
    })
}

struct Index<'a> {
    zone: &'a LoadedZone,
    by_owner: HashMap<Vec<u8>, Vec<usize>>,
    cuts: Vec<Vec<u8>>,
    apex: Vec<u8>,
}

impl Index<'_> {
    fn records_at(&self, name: &[u8]) -> impl Iterator<Item = &ZoneRecord> {
        self.by_owner
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.zone.records[i])
    }

    fn has_type(&self, name: &[u8], rtype: Rtype) -> bool {
        self.records_at(name).any(|r| r.rtype() == rtype)
    }

    fn has_address(&self, name: &[u8]) -> bool {
        self.records_at(name)
            .any(|r| matches!(r.rtype(), Rtype::A | Rtype::AAAA))
    }

    fn in_zone(&self, name: &[u8]) -> bool {
        name.len() >= self.apex.len() && name[name.len() - self.apex.len()..] == self.apex[..] && {
            // The suffix must start at a label boundary.
            let mut p = 0;
            while p < name.len() - self.apex.len() {
                p += 1 + name[p] as usize;
            }
            p == name.len() - self.apex.len()
        }
    }

    /// The zone cut at or above `name` (below the apex), if any.
    fn cut_at_or_above<'n>(&self, name: &'n [u8]) -> Option<&'n [u8]> {
        if name.len() > self.apex.len() && self.cuts.iter().any(|c| c[..] == name[..]) {
            return Some(name);
        }
        ancestors_below_apex(name, self.apex.len())
            .map(|p| &name[p..])
            .find(|a| self.cuts.iter().any(|c| c[..] == a[..]))
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
    let apex = key(&zone.origin);
    let mut by_owner: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
    for (i, r) in zone.records.iter().enumerate() {
        by_owner.entry(key(&r.owner)).or_default().push(i);
    }
    let mut cuts: Vec<Vec<u8>> = by_owner
        .iter()
        .filter(|(k, idx)| **k != apex && idx.iter().any(|&i| zone.records[i].rtype() == Rtype::NS))
        .map(|(k, _)| k.clone())
        .collect();
    cuts.sort();
    let ix = Index {
        zone,
        by_owner,
        cuts,
        apex,
    };
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
        .records_at(&ix.apex)
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
    if !ix.has_type(&ix.apex, Rtype::NS) {
        let at = soas.first().map(|r| &r.location).or(first_file.as_ref());
        push(
            Severity::Error,
            at,
            format!("no NS records at the zone apex {origin}"),
        );
    }

    for r in &zone.records {
        let owner = key(&r.owner);
        match r.rtype() {
            Rtype::SOA if owner != ix.apex => push(
                Severity::Error,
                Some(&r.location),
                format!(
                    "SOA record for {} is not at the zone apex {origin}",
                    fqdn(&r.owner)
                ),
            ),
            Rtype::CNAME => {
                let others: Vec<&ZoneRecord> = ix
                    .records_at(&owner)
                    .filter(|o| !matches!(o.rtype(), Rtype::CNAME | Rtype::RRSIG | Rtype::NSEC))
                    .collect();
                if let Some(o) = others.first() {
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
                let first_cname = ix.records_at(&owner).find(|o| o.rtype() == Rtype::CNAME);
                if let Some(f) = first_cname.filter(|f| f.location != r.location) {
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
        if let Some(target) = target_of(&r.data) {
            let t = key(target);
            if !ix.in_zone(&t) {
                continue;
            }
            let rtype = r.rtype();
            let severity = if rtype == Rtype::SRV {
                Severity::Warning
            } else {
                Severity::Error
            };
            if ix.has_type(&t, Rtype::CNAME) {
                push(
                    severity,
                    Some(&r.location),
                    format!("{rtype} target {} is a CNAME (illegal)", fqdn(target)),
                );
                continue;
            }
            if ix.has_address(&t) {
                continue;
            }
            if rtype == Rtype::NS {
                match ix.cut_at_or_above(&t) {
                    Some(cut) if owner != ix.apex || cut != &ix.apex[..] => push(
                        Severity::Error,
                        Some(&r.location),
                        format!("missing glue: NS target {} is below the delegation {} but has no A or AAAA record", fqdn(target), wire_to_text(cut)),
                    ),
                    _ => push(
                        Severity::Error,
                        Some(&r.location),
                        format!("NS target {} is in the zone but has no A or AAAA record", fqdn(target)),
                    ),
                }
            } else if !ix.has_type(&t, Rtype::NS) && ix.cut_at_or_above(&t).is_none() {
                push(
                    Severity::Warning,
                    Some(&r.location),
                    format!("{rtype} target {} has no A or AAAA record", fqdn(target)),
                );
            }
        }
    }

    // Duplicates and TTLs within RRsets, owner by owner, in file order.
    let mut canon = Vec::new();
    let mut rrset_ttl: HashMap<Rtype, &ZoneRecord> = HashMap::new();
    let mut seen: HashMap<(Rtype, Vec<u8>), &ZoneRecord> = HashMap::new();
    let mut owners: Vec<&Vec<usize>> = ix.by_owner.values().collect();
    owners.sort_by_key(|v| v[0]);
    for idx in owners {
        rrset_ttl.clear();
        seen.clear();
        for &i in idx {
            let r = &zone.records[i];
            canon.clear();
            if r.data.compose_canonical_rdata(&mut canon).is_err() {
                continue;
            }
            let rtype = r.rtype();
            // RRSIGs form one RRset per owner but carry the TTL of the set they cover.
            if rtype != Rtype::RRSIG {
                match rrset_ttl.get(&rtype) {
                    Some(first) if first.ttl != r.ttl => push(
                        Severity::Warning,
                        Some(&r.location),
                        format!(
                            "TTL {} differs from TTL {} of the same {rtype} RRset at {} (first at {})",
                            r.ttl.as_secs(),
                            first.ttl.as_secs(),
                            fqdn(&r.owner),
                            first.location
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        rrset_ttl.insert(rtype, r);
                    }
                }
            }
            match seen.get(&(rtype, canon.clone())) {
                Some(first) => push(
                    Severity::Warning,
                    Some(&r.location),
                    format!(
                        "duplicate {rtype} record at {} (first at {}); it is served once",
                        fqdn(&r.owner),
                        first.location
                    ),
                ),
                None => {
                    seen.insert((rtype, canon.clone()), r);
                }
            }
        }
    }
    diags
}

fn wire_to_text(wire: &[u8]) -> String {
    match Name::from_octets(Bytes::copy_from_slice(wire)) {
        Ok(n) => fqdn(&n),
        Err(_) => "?".into(),
    }
}
