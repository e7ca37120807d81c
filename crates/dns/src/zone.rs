//! The zone index: what the answer path reads for every query.
//!
//! A [`Zone`] is built once from a zone's records and never changed afterwards; a change makes a
//! new one, published atomically (see [`crate::ZoneSet`]). Every owner name, and every empty
//! non-terminal between an owner and the apex, is a [`Node`] found by one hash lookup of its
//! canonical wire name. Each node holds its RRsets already in wire form (type, class, TTL,
//! length and rdata, only the owner missing), so an answer is mostly copies.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use domain::base::iana::{Class, Rtype};
use domain::base::rdata::ComposeRecordData;
use domain::base::Name;

use crate::wire;
use crate::zonefile::ZoneRecord;

/// Record types by number, as the answer path compares them.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const NSEC3: u16 = 50;
    pub const NSEC3PARAM: u16 = 51;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const MAILB: u16 = 253;
    pub const MAILA: u16 = 254;
    pub const ANY: u16 = 255;
}

/// How a name inside an rdata is laid out, for the types whose names may be compressed on the
/// wire (RFC 3597 §4: only those of RFC 1035) and the types whose targets get additional
/// address records.
pub(crate) fn compressed_names(rtype: u16) -> &'static [NamePart] {
    use NamePart::*;
    match rtype {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 => &[Name],
        // SOA: MNAME RNAME then 20 octets; MINFO: RMAILBX EMAILBX
        6 => &[Name, Name, Fixed(20)],
        14 => &[Name, Name],
        // MX: preference then exchange
        15 => &[Fixed(2), Name],
        _ => &[],
    }
}

/// One part of an rdata with compressible names.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NamePart {
    Name,
    Fixed(usize),
}

/// The offset of the name whose address records go in the additional section.
fn target_offset(rtype: u16) -> Option<usize> {
    match rtype {
        rtype::NS => Some(0),
        rtype::MX => Some(2),
        rtype::SRV => Some(6),
        _ => None,
    }
}

/// The records of one RRset (or the RRSIGs covering one), in wire form without owners: per
/// record type, class, TTL, rdata length and rdata.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rrs {
    pub count: u16,
    pub wire: Box<[u8]>,
}

impl Rrs {
    /// Each record's (type+class+ttl+rdlen header, rdata) slices.
    pub fn iter(&self) -> RrIter<'_> {
        RrIter {
            wire: &self.wire,
            pos: 0,
        }
    }
}

pub(crate) struct RrIter<'a> {
    wire: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for RrIter<'a> {
    /// (fixed 10-octet header, rdata)
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.wire.len() {
            return None;
        }
        let h = &self.wire[self.pos..self.pos + 10];
        let len = u16::from_be_bytes([h[8], h[9]]) as usize;
        let rd = &self.wire[self.pos + 10..self.pos + 10 + len];
        self.pos += 10 + len;
        Some((h, rd))
    }
}

/// One RRset of a node, with its signatures and the in-zone nodes of its targets.
#[derive(Clone, Debug)]
pub(crate) struct RRset {
    pub rtype: u16,
    pub rrs: Rrs,
    pub sigs: Option<Rrs>,
    /// Nodes holding address records for this RRset's NS/MX/SRV targets, in record order.
    pub targets: Box<[u32]>,
}

/// One name of the zone: an owner, or an empty non-terminal.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// The name as first written (case kept), uncompressed wire form.
    pub name: Box<[u8]>,
    /// RRsets ordered by type; RRSIGs are attached to the RRset they cover.
    pub rrsets: Vec<RRset>,
    /// RRSIGs covering a type that has no RRset here (served for RRSIG and ANY queries).
    pub orphan_sigs: Option<Rrs>,
    /// NS here and not at the apex: a delegation point.
    pub cut: bool,
    /// The node `*.<this name>`, if the zone has one.
    pub wildcard: Option<u32>,
    /// The node holds DNAME.
    pub dname: bool,
}

impl Node {
    #[inline]
    pub fn get(&self, rtype: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == rtype)
    }
}

/// NSEC3 parameters of a zone and its hashed owners in hash order.
#[derive(Clone, Debug)]
pub(crate) struct Nsec3Index {
    pub iterations: u16,
    pub salt: Box<[u8]>,
    /// (raw hash, node id), sorted by hash.
    pub hashes: Vec<(Box<[u8]>, u32)>,
}

/// Why a set of records is not a zone that can be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneError {
    pub message: String,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ZoneError {}

fn err(message: impl Into<String>) -> ZoneError {
    ZoneError {
        message: message.into(),
    }
}

/// Node ids by name: only the id is stored; the name is the node's own (no second copy).
type Map = hashbrown::HashTable<u32>;

/// The hash of a canonical name.
#[inline]
fn key_hash(key: &[u8]) -> u64 {
    std::hash::BuildHasher::hash_one(&foldhash::fast::FixedState::with_seed(0x6e61_6d65), key)
}

/// The hash of a node's name (folded, as its canonical key).
fn node_hash(name: &[u8]) -> u64 {
    let mut key = [0u8; wire::MAX_NAME_LEN];
    let key = &mut key[..name.len()];
    for (k, &c) in key.iter_mut().zip(name) {
        *k = wire::fold(c);
    }
    key_hash(key)
}

/// The node whose name is `key` (canonical).
#[inline]
fn find_node(map: &Map, nodes: &[Node], key: &[u8]) -> Option<u32> {
    map.find(key_hash(key), |&id| {
        wire::eq_fold(&nodes[id as usize].name, key)
    })
    .copied()
}

/// One authoritative zone, indexed for answering.
pub struct Zone {
    pub(crate) origin: Name<Bytes>,
    /// Canonical wire form of the origin.
    pub(crate) origin_key: Box<[u8]>,
    pub(crate) origin_labels: usize,
    pub(crate) nodes: Vec<Node>,
    map: Map,
    pub(crate) serial: u32,
    /// The SOA as the authority section of a negative answer carries it: TTL = min(SOA TTL,
    /// MINIMUM) (RFC 2308 §3).
    pub(crate) neg_soa: Rrs,
    /// The SOA's signatures with the same negative TTL (as NSD and Knot send them).
    pub(crate) neg_soa_sigs: Option<Rrs>,
    /// Nodes that own an NSEC record with their canonical names, in canonical order.
    pub(crate) nsec_order: Vec<(Box<[u8]>, u32)>,
    pub(crate) nsec3: Option<Nsec3Index>,
    /// The zone carries signatures (its SOA is signed): DNSSEC proofs are given.
    pub(crate) signed: bool,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone")
            .field("origin", &self.origin.to_string())
            .field("serial", &self.serial)
            .field("names", &self.nodes.len())
            .finish()
    }
}

/// Where the lookup of a name ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The name exists (possibly as an empty non-terminal).
    Exact(u32),
    /// The name does not exist; the wildcard below its closest encloser matches.
    Wildcard { closest: u32, wildcard: u32 },
    /// The name does not exist and no wildcard matches.
    NxDomain { closest: u32 },
    /// The name is at or below a delegation point.
    Referral(u32),
    /// A DNAME at an ancestor of the name (the node holding it).
    Dname(u32),
}

impl Zone {
    /// Indexes `records` as the zone `origin`. Every record must be in class IN, at or below
    /// the origin; the apex must hold exactly one SOA.
    pub fn build(origin: &Name<Bytes>, records: Vec<ZoneRecord>) -> Result<Zone, ZoneError> {
        let origin_key = wire::canonical(origin.as_slice());
        let origin_labels = wire::label_count(&origin_key);
        // Every record's rdata in one arena, described by a small fixed entry.
        let mut arena: Vec<u8> = Vec::with_capacity(records.len() * 16);
        let mut raws: Vec<RawRecord> = Vec::with_capacity(records.len());
        // Two passes, so that the source records (over 200 octets each, hundreds of megabytes
        // for a million) are gone before the nodes are allocated: first every rdata into the
        // arena, keeping only each owner (a shared reference into the scanner's name arena),
        // then the nodes of those owners. The records are taken from the back and their list
        // shrunk as it empties, so the arena grows into memory they give back; the error kept is
        // the first in file order, as a forward pass would find it.
        let mut owners: Vec<Name<Bytes>> = Vec::with_capacity(records.len());
        let mut records = records;
        let mut first_error = None;
        while let Some(rec) = records.pop() {
            match stage_record(&rec, &origin_key, origin, &mut arena) {
                Ok(raw) => {
                    raws.push(raw);
                    owners.push(rec.owner);
                }
                Err(e) => first_error = Some(e),
            }
            if records.capacity() - records.len() >= SHRINK_STEP {
                records.shrink_to_fit();
            }
        }
        drop(records);
        if let Some(e) = first_error {
            return Err(e);
        }
        raws.reverse();
        owners.reverse();

        // The scanner shares one owner between consecutive records of a name, so the owner
        // changes count the nodes closely (empty non-terminals aside): sizing the index once
        // spares a million-name zone every rehash and every move of the node list.
        let owner_changes = owners
            .windows(2)
            .filter(|w| w[0].as_slice().as_ptr() != w[1].as_slice().as_ptr())
            .count();
        let expected_nodes = owner_changes + 2;
        let mut map = Map::with_capacity(expected_nodes);
        let mut nodes: Vec<Node> = Vec::with_capacity(expected_nodes);

        // The node of a name, created (with its canonical key) when new.
        let mut ensure = |name: &[u8], nodes: &mut Vec<Node>| -> u32 {
            let mut key = [0u8; wire::MAX_NAME_LEN];
            let key = &mut key[..name.len()];
            for (k, &c) in key.iter_mut().zip(name) {
                *k = wire::fold(c);
            }
            if let Some(id) = find_node(&map, nodes, key) {
                return id;
            }
            let id = nodes.len() as u32;
            nodes.push(Node {
                name: name.into(),
                rrsets: Vec::new(),
                orphan_sigs: None,
                cut: false,
                wildcard: None,
                dname: false,
            });
            map.insert_unique(key_hash(key), id, |&i| node_hash(&nodes[i as usize].name));
            id
        };
        ensure(origin.as_slice(), &mut nodes);
        // The node of each record, and every empty non-terminal up to the apex, in record order
        // (node ids as a single pass would give them).
        for (raw, owner) in raws.iter_mut().zip(&owners) {
            let owner = owner.as_slice();
            raw.node = ensure(owner, &mut nodes);
            let mut starts = [0u8; 128];
            let n = wire::label_starts(owner, &mut starts);
            for i in 1..n.saturating_sub(origin_labels) {
                ensure(&owner[starts[i] as usize..], &mut nodes);
            }
        }
        drop(owners);
        // Grouped by node, then data before signatures, then type; source order kept within.
        raws.sort_by_key(|r| (r.node, r.sig, r.key));

        // Compile each node's RRsets.
        let apex = 0usize;
        let mut i = 0;
        while i < raws.len() {
            let id = raws[i].node;
            let mut j = i;
            while j < raws.len() && raws[j].node == id {
                j += 1;
            }
            let group = &raws[i..j];
            let split = group.iter().position(|r| r.sig).unwrap_or(group.len());
            let (data, sigs) = group.split_at(split);
            let node = &mut nodes[id as usize];
            // Exactly as many RRsets as the node has: a first push would reserve four (288
            // octets), and a million names hold that all at once before any shrink.
            node.rrsets.reserve_exact(runs(data).count());
            for (t, rrs) in runs(data) {
                let sig = runs(sigs)
                    .find(|(c, _)| *c == t)
                    .map(|(_, srrs)| compile(rtype::RRSIG, &arena, srrs));
                node.rrsets.push(RRset {
                    rtype: t,
                    rrs: compile(t, &arena, rrs),
                    sigs: sig,
                    targets: Box::new([]),
                });
            }
            let orphans: Vec<RawRecord> = runs(sigs)
                .filter(|(c, _)| !data.iter().any(|d| d.key == *c))
                .flat_map(|(_, r)| r.iter().copied())
                .collect();
            if !orphans.is_empty() {
                node.orphan_sigs = Some(compile(rtype::RRSIG, &arena, &orphans));
            }
            i = j;
        }
        // Everything is compiled into the nodes: the staging copies go before the index grows.
        drop(raws);
        drop(arena);
        for (id, node) in nodes.iter_mut().enumerate() {
            // Vec growth leaves room for four RRsets; a million names make that count.
            node.rrsets.shrink_to_fit();
            if id != apex && node.get(rtype::NS).is_some() {
                node.cut = true;
            }
            node.dname = node.get(rtype::DNAME).is_some();
            if node.get(rtype::CNAME).is_some()
                && node
                    .rrsets
                    .iter()
                    .any(|r| !matches!(r.rtype, rtype::CNAME | rtype::NSEC | rtype::RRSIG))
            {
                return Err(err(format!(
                    "{}: CNAME and other data",
                    wire::display(&node.name)
                )));
            }
        }

        // The SOA, and the negative TTL.
        let soa = nodes[apex]
            .get(rtype::SOA)
            .ok_or_else(|| err(format!("zone {origin} has no SOA record at its apex")))?;
        if soa.rrs.count != 1 {
            return Err(err(format!(
                "zone {origin} has {} SOA records at its apex",
                soa.rrs.count
            )));
        }
        let (h, rd) = soa.rrs.iter().next().expect("one SOA");
        let ttl = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let fixed = soa_fixed(rd).ok_or_else(|| err("malformed SOA"))?;
        let serial = u32::from_be_bytes(rd[fixed..fixed + 4].try_into().unwrap());
        let minimum = u32::from_be_bytes(rd[fixed + 16..fixed + 20].try_into().unwrap());
        let mut neg_wire = soa.rrs.wire.to_vec();
        neg_wire[4..8].copy_from_slice(&ttl.min(minimum).to_be_bytes());
        let neg_soa = Rrs {
            count: 1,
            wire: neg_wire.into_boxed_slice(),
        };
        let neg_soa_sigs = soa.sigs.as_ref().map(|s| with_ttl(s, ttl.min(minimum)));
        for (id, node) in nodes.iter_mut().enumerate() {
            if id != apex && node.get(rtype::SOA).is_some() {
                return Err(err(format!(
                    "SOA record at {}, which is not the apex",
                    wire::display(&node.name)
                )));
            }
        }

        // Wildcards, additional targets.
        let mut zone_nodes = nodes;
        zone_nodes.shrink_to_fit();
        for id in 0..zone_nodes.len() {
            let name = &zone_nodes[id].name;
            if name.first() == Some(&1) && name.get(1) == Some(&b'*') {
                let parent = wire::canonical(&name[2..]);
                if let Some(p) = find_node(&map, &zone_nodes, &parent) {
                    zone_nodes[p as usize].wildcard = Some(id as u32);
                }
            }
        }
        for id in 0..zone_nodes.len() {
            for r in 0..zone_nodes[id].rrsets.len() {
                let rt = zone_nodes[id].rrsets[r].rtype;
                let Some(off) = target_offset(rt) else {
                    continue;
                };
                let mut targets = Vec::new();
                for (_, rd) in zone_nodes[id].rrsets[r].rrs.iter() {
                    let Some(end) = wire::name_end(rd, off) else {
                        continue;
                    };
                    let key = wire::canonical(&rd[off..end]);
                    if let Some(t) = find_node(&map, &zone_nodes, &key) {
                        let tn = &zone_nodes[t as usize];
                        if (tn.get(rtype::A).is_some() || tn.get(rtype::AAAA).is_some())
                            && !targets.contains(&t)
                        {
                            targets.push(t);
                        }
                    }
                }
                zone_nodes[id].rrsets[r].targets = targets.into_boxed_slice();
            }
        }

        // DNSSEC: NSEC chain order and NSEC3 hashes.
        let mut nsec_order: Vec<(Box<[u8]>, u32)> = (0..zone_nodes.len() as u32)
            .filter(|&i| zone_nodes[i as usize].get(rtype::NSEC).is_some())
            .map(|i| (wire::canonical(&zone_nodes[i as usize].name), i))
            .collect();
        nsec_order.sort_by(|a, b| wire::canonical_cmp(&a.0, &b.0));
        let nsec3 = nsec3_index(&zone_nodes, apex);
        let signed = zone_nodes[apex]
            .get(rtype::SOA)
            .is_some_and(|s| s.sigs.is_some());

        Ok(Zone {
            origin: origin.clone(),
            origin_key,
            origin_labels,
            nodes: zone_nodes,
            map,
            serial,
            neg_soa,
            neg_soa_sigs,
            nsec_order,
            nsec3,
            signed,
        })
    }

    /// The zone's origin.
    pub fn origin(&self) -> &Name<Bytes> {
        &self.origin
    }

    /// The SOA serial.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The zone's records, rebuilt from the index (by name, then type; for edits). The index
    /// keeps no second copy of the source records.
    pub fn records(&self) -> Vec<ZoneRecord> {
        use domain::base::name::FlattenInto;
        use domain::base::rdata::ParseRecordData;
        use domain::base::ParsedName;
        let location = crate::zonefile::SourceLocation {
            file: Arc::from(std::path::Path::new("<served zone>")),
            line: 0,
            column: 0,
        };
        let mut out = Vec::new();
        for node in &self.nodes {
            let Ok(owner) = Name::from_octets(Bytes::copy_from_slice(&node.name)) else {
                continue;
            };
            let sets = node
                .rrsets
                .iter()
                .flat_map(|r| std::iter::once(&r.rrs).chain(r.sigs.as_ref()));
            for rrs in sets.chain(node.orphan_sigs.as_ref()) {
                for (h, rd) in rrs.iter() {
                    let t = Rtype::from_int(u16::from_be_bytes([h[0], h[1]]));
                    let ttl = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                    let bytes = Bytes::copy_from_slice(rd);
                    let mut parser = domain::dep::octseq::Parser::from_ref(&bytes);
                    let parsed =
                        domain::rdata::ZoneRecordData::<Bytes, ParsedName<Bytes>>::parse_rdata(
                            t,
                            &mut parser,
                        );
                    let Ok(Some(parsed)) = parsed else { continue };
                    out.push(ZoneRecord {
                        owner: owner.clone(),
                        class: Class::IN,
                        ttl: domain::base::Ttl::from_secs(ttl),
                        data: parsed.flatten_into(),
                        location: location.clone(),
                    });
                }
            }
        }
        out
    }

    /// The number of names (owners and empty non-terminals).
    pub fn name_count(&self) -> usize {
        self.nodes.len()
    }

    #[inline]
    pub(crate) fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }

    #[inline]
    pub(crate) fn apex(&self) -> &Node {
        &self.nodes[0]
    }

    /// Looks `name` (canonical wire form, `starts` its label offsets, `n` labels) up, from the
    /// apex downwards: delegations and DNAMEs on the way win, then the exact name, then the
    /// wildcard at the closest encloser (RFC 4592 §3.3.1). `exact_cut_ok` answers the name of
    /// a delegation point itself from this zone (DS queries belong to the parent side).
    pub(crate) fn lookup(
        &self,
        name: &[u8],
        starts: &[u8],
        n: usize,
        exact_cut_ok: bool,
    ) -> Lookup {
        let mut closest = 0u32;
        if n > self.origin_labels && self.nodes[0].dname {
            return Lookup::Dname(0);
        }
        for k in self.origin_labels + 1..=n {
            let s = &name[starts[n - k] as usize..];
            match find_node(&self.map, &self.nodes, s) {
                None => {
                    return match self.nodes[closest as usize].wildcard {
                        Some(w) => Lookup::Wildcard {
                            closest,
                            wildcard: w,
                        },
                        None => Lookup::NxDomain { closest },
                    };
                }
                Some(id) => {
                    let node = &self.nodes[id as usize];
                    if node.cut && !(k == n && exact_cut_ok) {
                        return Lookup::Referral(id);
                    }
                    if k < n && node.dname {
                        return Lookup::Dname(id);
                    }
                    closest = id;
                }
            }
        }
        Lookup::Exact(closest)
    }

    /// The NSEC node that covers (or matches) a canonical name: the last NSEC owner not after it.
    pub(crate) fn nsec_covering(&self, name: &[u8]) -> Option<u32> {
        if self.nsec_order.is_empty() {
            return None;
        }
        let idx = self
            .nsec_order
            .partition_point(|(k, _)| wire::canonical_cmp(k, name).is_le());
        // Before the first owner: the last NSEC (which wraps around to the apex) covers it.
        let i = if idx == 0 {
            self.nsec_order.len() - 1
        } else {
            idx - 1
        };
        Some(self.nsec_order[i].1)
    }
}

/// Offset of the 20 fixed octets of an SOA rdata (after MNAME and RNAME).
pub(crate) fn soa_fixed(rd: &[u8]) -> Option<usize> {
    let m = wire::name_end(rd, 0)?;
    let r = wire::name_end(rd, m)?;
    if rd.len() != r + 20 {
        return None;
    }
    Some(r)
}

/// A copy of `rrs` with every record's TTL set to `ttl`.
fn with_ttl(rrs: &Rrs, ttl: u32) -> Rrs {
    let mut w = rrs.wire.to_vec();
    let mut pos = 0;
    while pos + 10 <= w.len() {
        w[pos + 4..pos + 8].copy_from_slice(&ttl.to_be_bytes());
        pos += 10 + u16::from_be_bytes([w[pos + 8], w[pos + 9]]) as usize;
    }
    Rrs {
        count: rrs.count,
        wire: w.into_boxed_slice(),
    }
}

/// Splits records (sorted by type) into runs of one type.
fn runs(records: &[RawRecord]) -> impl Iterator<Item = (u16, &[RawRecord])> {
    records
        .chunk_by(|a, b| a.key == b.key)
        .map(|c| (c[0].key, c))
}

/// One record of a zone being built: where its rdata sits in the arena, and what it is.
#[derive(Clone, Copy, Debug)]
struct RawRecord {
    node: u32,
    sig: bool,
    /// The type, or for RRSIG the type covered.
    key: u16,
    ttl: u32,
    at: u64,
    len: u16,
}

/// Records taken off the source list between two shrinks of it while indexing.
const SHRINK_STEP: usize = 1 << 16;

/// Checks one source record and appends its rdata to the arena; the node is set later.
fn stage_record(
    rec: &ZoneRecord,
    origin_key: &[u8],
    origin: &Name<Bytes>,
    arena: &mut Vec<u8>,
) -> Result<RawRecord, ZoneError> {
    if rec.class != Class::IN {
        return Err(err(format!(
            "{}: class {} is not served (only IN)",
            rec.location, rec.class
        )));
    }
    let owner = rec.owner.as_slice();
    let mut owner_key = [0u8; wire::MAX_NAME_LEN];
    for (k, &c) in owner_key.iter_mut().zip(owner) {
        *k = wire::fold(c);
    }
    if !wire::is_subdomain(&owner_key[..owner.len()], origin_key) {
        return Err(err(format!(
            "{}: {} is outside the zone {}",
            rec.location,
            wire::display(owner),
            origin
        )));
    }
    let rt = rec.rtype().to_int();
    if rt == rtype::OPT || rt == rtype::TSIG || (rtype::IXFR..=rtype::ANY).contains(&rt) {
        return Err(err(format!(
            "{}: type {} cannot be zone data",
            rec.location,
            rec.rtype()
        )));
    }
    let at = arena.len();
    rec.data
        .compose_rdata(arena)
        .map_err(|_| err(format!("{}: record data does not fit", rec.location)))?;
    let len = arena.len() - at;
    if len > 65535 {
        return Err(err(format!(
            "{}: record data longer than 65535 octets",
            rec.location
        )));
    }
    let sig = rt == rtype::RRSIG;
    if sig && len < 2 {
        return Err(err(format!(
            "{}: RRSIG without a covered type",
            rec.location
        )));
    }
    let key = if sig {
        u16::from_be_bytes([arena[at], arena[at + 1]])
    } else {
        rt
    };
    Ok(RawRecord {
        node: 0,
        sig,
        key,
        ttl: rec.ttl.as_secs(),
        at: at as u64,
        len: len as u16,
    })
}

/// Compiles records of one type into wire form, dropping duplicates.
fn compile(rt: u16, arena: &[u8], rrs: &[RawRecord]) -> Rrs {
    let rd = |r: &RawRecord| &arena[r.at as usize..r.at as usize + r.len as usize];
    let mut w = Vec::with_capacity(rrs.iter().map(|r| r.len as usize + 10).sum());
    let mut count = 0u16;
    for (k, r) in rrs.iter().enumerate() {
        if rrs[..k].iter().any(|p| rd(p) == rd(r)) {
            continue;
        }
        wire::put_u16(&mut w, rt);
        wire::put_u16(&mut w, 1);
        wire::put_u32(&mut w, r.ttl);
        wire::put_u16(&mut w, r.len);
        w.extend_from_slice(rd(r));
        count += 1;
    }
    Rrs {
        count,
        wire: w.into_boxed_slice(),
    }
}

fn nsec3_index(nodes: &[Node], apex: usize) -> Option<Nsec3Index> {
    let param = nodes[apex].get(rtype::NSEC3PARAM)?;
    let (_, rd) = param.rrs.iter().next()?;
    if rd.len() < 5 || rd[0] != 1 {
        return None;
    }
    let iterations = u16::from_be_bytes([rd[2], rd[3]]);
    let salt_len = rd[4] as usize;
    let salt: Box<[u8]> = rd.get(5..5 + salt_len)?.into();
    let mut hashes = Vec::new();
    for (id, node) in nodes.iter().enumerate() {
        if node.get(rtype::NSEC3).is_none() {
            continue;
        }
        let label = &node.name[1..1 + node.name[0] as usize];
        if let Some(h) = base32hex_decode(label) {
            hashes.push((h.into_boxed_slice(), id as u32));
        }
    }
    hashes.sort();
    Some(Nsec3Index {
        iterations,
        salt,
        hashes,
    })
}

/// Decodes RFC 4648 base32hex without padding, case-insensitively.
pub(crate) fn base32hex_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &c in s {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'v' => c - b'a' + 10,
            b'A'..=b'V' => c - b'A' + 10,
            _ => return None,
        } as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The NSEC3 hash of a canonical wire name (RFC 5155 §5).
pub(crate) fn nsec3_hash(name: &[u8], salt: &[u8], iterations: u16) -> [u8; 20] {
    use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY};
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(name);
    ctx.update(salt);
    let mut h: [u8; 20] = ctx.finish().as_ref().try_into().unwrap();
    for _ in 0..iterations {
        let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(&h);
        ctx.update(salt);
        h = ctx.finish().as_ref().try_into().unwrap();
    }
    h
}

impl Nsec3Index {
    /// The NSEC3 node whose hash equals `h`, if any.
    pub fn matching(&self, h: &[u8]) -> Option<u32> {
        self.hashes
            .binary_search_by(|(k, _)| (**k).cmp(h))
            .ok()
            .map(|i| self.hashes[i].1)
    }

    /// The NSEC3 node whose hash interval covers `h` (the last hash before it, wrapping).
    pub fn covering(&self, h: &[u8]) -> Option<u32> {
        if self.hashes.is_empty() {
            return None;
        }
        let idx = self.hashes.partition_point(|(k, _)| **k < *h);
        let i = if idx == 0 {
            self.hashes.len() - 1
        } else {
            idx - 1
        };
        Some(self.hashes[i].1)
    }
}

/// Makes the rtype of a record type's mnemonic for messages.
pub fn type_name(t: u16) -> String {
    Rtype::from_int(t).to_string()
}
