//! Differential: our scanner against NSD's zone parser on the same files.
//!
//! `nsd-checkzone -p ZONE FILE` prints the zone as NSD parsed it (names absolute or under
//! fresh `$ORIGIN`s, TTLs in seconds, unknown types in RFC 3597 form, lowercased owners). We
//! load the original file with our scanner and NSD's print-out with our scanner too, and the
//! two must hold the same records: same owner, TTL, type and canonical wire rdata. Since NSD's
//! print-out uses another spelling of nearly every field, a mistake of ours shows up as a
//! difference rather than cancelling out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dermaga_dns::zonefile::{load_zone_file, parse_name, parse_zone_str, LoadedZone};
use domain::base::rdata::ComposeRecordData;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/zones")
        .join(name)
}

fn nsd_checkzone() -> PathBuf {
    for p in ["/usr/sbin/nsd-checkzone", "/usr/bin/nsd-checkzone"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nsd-checkzone is not installed (package nsd; scripts/test.sh installs it)");
}

/// Records as comparable rows: (owner lowercased, TTL, type, canonical rdata) → count.
fn rows(zone: &LoadedZone) -> BTreeMap<(String, u32, String, Vec<u8>), usize> {
    let mut out = BTreeMap::new();
    for r in &zone.records {
        let mut rdata = Vec::new();
        r.data.compose_canonical_rdata(&mut rdata).unwrap();
        let key = (
            r.owner.to_string().to_ascii_lowercase(),
            r.ttl.as_secs(),
            r.rtype().to_string(),
            rdata,
        );
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

fn compare_with_nsd(file: &str, origin: &str) {
    let path = data(file);
    let ours = load_zone_file(&path, Some(&parse_name(origin).unwrap()))
        .unwrap_or_else(|e| panic!("our scanner rejected {file}:\n{e}"));
    // NSD resolves relative $INCLUDE paths against its working directory; we resolve them
    // against the including file's folder. Running NSD in that folder makes both agree.
    let out = Command::new(nsd_checkzone())
        .current_dir(path.parent().unwrap())
        .arg("-p")
        .arg(origin)
        .arg(&path)
        .output()
        .expect("run nsd-checkzone");
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "nsd-checkzone rejected {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = parse_zone_str(
        &printed,
        Some(&parse_name(origin).unwrap()),
        "nsd-checkzone-p.out",
    )
    .unwrap_or_else(|e| panic!("our scanner rejected NSD's print-out:\n{e}\n{printed}"));
    let (a, b) = (rows(&ours), rows(&theirs));
    let only_ours: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_nsd: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        only_ours.is_empty() && only_nsd.is_empty(),
        "records differ\nonly ours: {only_ours:#?}\nonly NSD's: {only_nsd:#?}\nNSD printed:\n{printed}"
    );
    assert_eq!(
        ours.records.len(),
        theirs.records.len(),
        "record counts differ (duplicates?)"
    );
}

#[test]
fn rich_zone_matches_nsd() {
    compare_with_nsd("rich.zone", "example.com.");
}

#[test]
fn include_zone_matches_nsd() {
    compare_with_nsd("include-main.zone", "example.org.");
}

#[test]
fn edge_zone_matches_nsd() {
    compare_with_nsd("edge.zone", "example.com.");
}

#[test]
fn signed_nsec_zone_matches_nsd() {
    compare_with_nsd("signed-nsec.zone", "example.net.");
}

#[test]
fn signed_nsec3_zone_matches_nsd() {
    compare_with_nsd("signed-nsec3.zone", "example.net.");
}
