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
    pub const DNSKEY: u16 = 48;
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
/// record type, class, TTL, rdata length and rdata. A view into the zone's wire arena.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rrs<'z> {
    pub count: u16,
    pub wire: &'z [u8],
}

impl<'z> Rrs<'z> {
    /// Each record's (type+class+ttl+rdlen header, rdata) slices.
    pub fn iter(&self) -> RrIter<'z> {
        RrIter {
            wire: self.wire,
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

/// Where an RRset's records sit in the zone's wire arena.
#[derive(Clone, Copy, Debug, Default)]
struct RrsAt {
    count: u16,
    at: u32,
    len: u32,
}

/// One RRset as stored: offsets into the zone's arenas, no allocation of its own (a million
/// names are a million RRsets; per-RRset boxes cost more than the records).
#[derive(Clone, Copy, Debug)]
struct RRsetData {
    rtype: u16,
    targets_len: u16,
    rrs: RrsAt,
    sigs: Option<RrsAt>,
    targets_at: u32,
}

/// One name as stored: offsets into the zone's name and RRset arenas.
#[derive(Clone, Copy, Debug)]
struct NodeData {
    name_at: u32,
    rrsets_at: u32,
    /// The node `*.<this name>`, if the zone has one.
    wildcard: Option<u32>,
    /// RRSIGs covering a type that has no RRset here (served for RRSIG and ANY queries).
    orphan_sigs: Option<RrsAt>,
    rrsets_len: u16,
    name_len: u8,
    /// NS here and not at the apex: a delegation point.
    cut: bool,
    /// The node holds DNAME.
    dname: bool,
}

/// One RRset of a node, with its signatures and the in-zone nodes of its targets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RRset<'z> {
    pub rrs: Rrs<'z>,
    pub sigs: Option<Rrs<'z>>,
    /// Nodes holding address records for this RRset's NS/MX/SRV targets, in record order.
    pub targets: &'z [u32],
}

/// One name of the zone: an owner, or an empty non-terminal.
#[derive(Clone, Copy)]
pub(crate) struct Node<'z> {
    zone: &'z Zone,
    /// The name as first written (case kept), uncompressed wire form.
    pub name: &'z [u8],
    sets: &'z [RRsetData],
    /// RRSIGs covering a type that has no RRset here (served for RRSIG and ANY queries).
    pub orphan_sigs: Option<Rrs<'z>>,
}

impl<'z> Node<'z> {
    /// The RRsets, ordered by type; RRSIGs are attached to the RRset they cover.
    #[inline]
    pub fn rrsets(&self) -> impl Iterator<Item = RRset<'z>> + 'z {
        let zone = self.zone;
        self.sets.iter().map(move |d| zone.rrset(d))
    }

    #[inline]
    pub fn get(&self, rtype: u16) -> Option<RRset<'z>> {
        self.sets
            .iter()
            .find(|r| r.rtype == rtype)
            .map(|d| self.zone.rrset(d))
    }

    #[inline]
    fn has(&self, rtype: u16) -> bool {
        self.sets.iter().any(|r| r.rtype == rtype)
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

/// The name bytes of a stored node.
#[inline]
fn name_of<'a>(names: &'a [u8], n: &NodeData) -> &'a [u8] {
    &names[n.name_at as usize..n.name_at as usize + n.name_len as usize]
}

/// The node whose name is `key` (canonical).
#[inline]
fn find_node(map: &Map, names: &[u8], nodes: &[NodeData], key: &[u8]) -> Option<u32> {
    map.find(key_hash(key), |&id| {
        wire::eq_fold(name_of(names, &nodes[id as usize]), key)
    })
    .copied()
}

/// One authoritative zone, indexed for answering.
///
/// Names, RRsets, record data and target lists each live in one arena of the zone, addressed by
/// 32-bit offsets: a million-name zone is a handful of allocations, not millions.
pub struct Zone {
    pub(crate) origin: Name<Bytes>,
    /// Canonical wire form of the origin.
    pub(crate) origin_key: Box<[u8]>,
    pub(crate) origin_labels: usize,
    nodes: Vec<NodeData>,
    names: Vec<u8>,
    sets: Vec<RRsetData>,
    wire: Vec<u8>,
    targets: Vec<u32>,
    map: Map,
    pub(crate) serial: u32,
    /// The SOA as the authority section of a negative answer carries it: TTL = min(SOA TTL,
    /// MINIMUM) (RFC 2308 §3).
    neg_soa: RrsAt,
    /// The SOA's signatures with the same negative TTL (as NSD and Knot send them).
    neg_soa_sigs: Option<RrsAt>,
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

/// The arenas of a zone being built.
#[derive(Default)]
struct Arenas {
    nodes: Vec<NodeData>,
    names: Vec<u8>,
    sets: Vec<RRsetData>,
    wire: Vec<u8>,
    targets: Vec<u32>,
}

impl Arenas {
    fn name(&self, id: u32) -> &[u8] {
        name_of(&self.names, &self.nodes[id as usize])
    }

    fn sets(&self, id: u32) -> &[RRsetData] {
        let n = &self.nodes[id as usize];
        &self.sets[n.rrsets_at as usize..n.rrsets_at as usize + n.rrsets_len as usize]
    }

    fn get(&self, id: u32, rtype: u16) -> Option<&RRsetData> {
        self.sets(id).iter().find(|r| r.rtype == rtype)
    }

    fn wire(&self, r: RrsAt) -> Rrs<'_> {
        Rrs {
            count: r.count,
            wire: &self.wire[r.at as usize..r.at as usize + r.len as usize],
        }
    }
}

/// An arena offset, or the error that the zone is too large to index.
fn offset(len: usize) -> Result<u32, ZoneError> {
    u32::try_from(len).map_err(|_| err("zone too large to index (over 4 GiB of data)"))
}

impl Zone {
    /// Indexes `records` as the zone `origin`. Every record must be in class IN, at or below
    /// the origin; the apex must hold exactly one SOA.
    pub fn build(origin: &Name<Bytes>, records: Vec<ZoneRecord>) -> Result<Zone, ZoneError> {
        let mut st = Stager::new(origin, records.len());
        // The records are taken from the back and their list shrunk as it empties, so the
        // staging arena grows into memory they give back; the error kept is the first in file
        // order, as a forward pass would find it.
        let mut records = records;
        let mut first_error = None;
        while let Some(rec) = records.pop() {
            if let Err(e) = st.stage(rec) {
                first_error = Some(e);
            }
            if records.capacity() - records.len() >= SHRINK_STEP {
                records.shrink_to_fit();
            }
        }
        drop(records);
        if let Some(e) = first_error {
            return Err(e);
        }
        st.raws.reverse();
        st.owners.reverse();
        st.finish()
    }

    /// Reads a zone file straight into an index: each record is staged as the scanner reads
    /// it, so the parsed records of a large zone never sit in memory together. `origin` as in
    /// [`crate::load_zone`].
    pub fn load_file(
        path: &std::path::Path,
        origin: Option<&Name<Bytes>>,
    ) -> Result<Zone, LoadError> {
        let sink = StreamSink {
            stager: origin.map(|o| Stager::new(o, 0)),
            pending: Vec::new(),
            first_error: None,
            out_of_zone: Vec::new(),
        };
        let input = crate::zonefile::scanner::Input::File(path.to_path_buf());
        let (origin, sink, _warnings) =
            crate::zonefile::scanner::load_into(input, origin, sink).map_err(LoadError::File)?;
        match sink.stager {
            Some(st) if sink.pending.is_empty() => {
                if let Some(e) = sink.first_error {
                    return Err(LoadError::Zone(e));
                }
                st.finish().map_err(LoadError::Zone)
            }
            // Records came before any SOA with no origin given: indexed once the scan named it.
            _ => Zone::build(&origin, sink.pending).map_err(LoadError::Zone),
        }
    }
}

/// Why a zone file could not be loaded into an index.
#[derive(Debug)]
pub enum LoadError {
    /// The file's errors, each with its position.
    File(crate::zonefile::ZoneFileErrors),
    /// The records do not make a zone that can be served.
    Zone(ZoneError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::File(e) => e.fmt(f),
            LoadError::Zone(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// The scanner's sink while loading a file into an index: records are staged as they come once
/// the origin is known (given, or the owner of an SOA that is the file's first record); before
/// that they are kept whole.
struct StreamSink {
    stager: Option<Stager>,
    pending: Vec<ZoneRecord>,
    first_error: Option<ZoneError>,
    out_of_zone: Vec<crate::zonefile::ZoneFileError>,
}

impl crate::zonefile::scanner::RecordSink for StreamSink {
    fn record(&mut self, rec: ZoneRecord) {
        if self.stager.is_none() && self.pending.is_empty() && rec.rtype() == Rtype::SOA {
            // The first record is an SOA: its owner is the origin the scan will settle on.
            self.stager = Some(Stager::new(&rec.owner, 0));
        }
        match &mut self.stager {
            Some(st) if self.pending.is_empty() => {
                if !rec.owner.ends_with(&st.origin) {
                    self.out_of_zone
                        .push(crate::zonefile::scanner::out_of_zone(&rec, &st.origin));
                    return;
                }
                if let Err(e) = st.stage(rec) {
                    self.first_error.get_or_insert(e);
                }
            }
            _ => self.pending.push(rec),
        }
    }

    fn check_in_zone(
        &mut self,
        origin: &Name<Bytes>,
        errors: &mut Vec<crate::zonefile::ZoneFileError>,
    ) {
        errors.append(&mut self.out_of_zone);
        self.pending.check_in_zone(origin, errors);
    }
}

/// A zone being built: each record's rdata in one staging arena, described by a small fixed
/// entry, and its owner (a shared reference into the scanner's name arena).
struct Stager {
    origin: Name<Bytes>,
    origin_key: Box<[u8]>,
    staging: Vec<u8>,
    raws: Vec<RawRecord>,
    owners: Vec<Name<Bytes>>,
}

impl Stager {
    fn new(origin: &Name<Bytes>, records: usize) -> Stager {
        Stager {
            origin: origin.clone(),
            origin_key: wire::canonical(origin.as_slice()),
            staging: Vec::with_capacity(records * 16),
            raws: Vec::with_capacity(records),
            owners: Vec::with_capacity(records),
        }
    }

    /// Checks one record and stages it.
    fn stage(&mut self, rec: ZoneRecord) -> Result<(), ZoneError> {
        let raw = stage_record(&rec, &self.origin_key, &self.origin, &mut self.staging)?;
        self.raws.push(raw);
        self.owners.push(rec.owner);
        Ok(())
    }

    /// Indexes the staged records.
    fn finish(self) -> Result<Zone, ZoneError> {
        let Stager {
            origin,
            origin_key,
            staging,
            mut raws,
            owners,
        } = self;
        let origin = &origin;
        let origin_labels = wire::label_count(&origin_key);

        // The scanner shares one owner between consecutive records of a name, so the owner
        // changes count the nodes closely (empty non-terminals aside): sizing the index once
        // spares a million-name zone every rehash and every move of the node list.
        let owner_changes = owners
            .windows(2)
            .filter(|w| w[0].as_slice().as_ptr() != w[1].as_slice().as_ptr())
            .count();
        let expected_nodes = owner_changes + 2;
        let mut map = Map::with_capacity(expected_nodes);
        let mut a = Arenas {
            nodes: Vec::with_capacity(expected_nodes),
            names: Vec::with_capacity(expected_nodes * 16),
            ..Arenas::default()
        };

        // The node of a name, created (with its canonical key) when new.
        let mut ensure = |name: &[u8], a: &mut Arenas| -> Result<u32, ZoneError> {
            let mut key = [0u8; wire::MAX_NAME_LEN];
            let key = &mut key[..name.len()];
            for (k, &c) in key.iter_mut().zip(name) {
                *k = wire::fold(c);
            }
            if let Some(id) = find_node(&map, &a.names, &a.nodes, key) {
                return Ok(id);
            }
            let id = offset(a.nodes.len())?;
            let name_at = offset(a.names.len())?;
            a.names.extend_from_slice(name);
            a.nodes.push(NodeData {
                name_at,
                rrsets_at: 0,
                wildcard: None,
                orphan_sigs: None,
                rrsets_len: 0,
                name_len: name.len() as u8,
                cut: false,
                dname: false,
            });
            let (names, nodes) = (&a.names, &a.nodes);
            map.insert_unique(key_hash(key), id, |&i| {
                node_hash(name_of(names, &nodes[i as usize]))
            });
            Ok(id)
        };
        ensure(origin.as_slice(), &mut a)?;
        // The node of each record, and every empty non-terminal up to the apex, in record order
        // (node ids as a single pass would give them).
        for (raw, owner) in raws.iter_mut().zip(&owners) {
            let owner = owner.as_slice();
            raw.node = ensure(owner, &mut a)?;
            let mut starts = [0u8; 128];
            let n = wire::label_starts(owner, &mut starts);
            for i in 1..n.saturating_sub(origin_labels) {
                ensure(&owner[starts[i] as usize..], &mut a)?;
            }
        }
        drop(owners);
        a.nodes.shrink_to_fit();
        a.names.shrink_to_fit();
        // Grouped by node, then data before signatures, then type; source order kept within.
        raws.sort_by_key(|r| (r.node, r.sig, r.key));

        // Compile each node's RRsets, node after node, into the RRset and wire arenas.
        let apex = 0usize;
        a.wire.reserve(staging.len() + raws.len() * 10);
        for group in raws.chunk_by(|x, y| x.node == y.node) {
            let id = group[0].node as usize;
            let split = group.iter().position(|r| r.sig).unwrap_or(group.len());
            let (data, sigs) = group.split_at(split);
            let rrsets_at = offset(a.sets.len())?;
            let mut count = 0u16;
            for (t, rrs) in runs(data) {
                let sig = match runs(sigs).find(|(c, _)| *c == t) {
                    Some((_, srrs)) => Some(compile(rtype::RRSIG, &staging, srrs, &mut a.wire)?),
                    None => None,
                };
                let rrs = compile(t, &staging, rrs, &mut a.wire)?;
                a.sets.push(RRsetData {
                    rtype: t,
                    targets_len: 0,
                    rrs,
                    sigs: sig,
                    targets_at: 0,
                });
                count += 1;
            }
            let orphans: Vec<RawRecord> = runs(sigs)
                .filter(|(c, _)| !data.iter().any(|d| d.key == *c))
                .flat_map(|(_, r)| r.iter().copied())
                .collect();
            let node = &mut a.nodes[id];
            node.rrsets_at = rrsets_at;
            node.rrsets_len = count;
            if !orphans.is_empty() {
                node.orphan_sigs = Some(compile(rtype::RRSIG, &staging, &orphans, &mut a.wire)?);
            }
        }
        // Everything is compiled into the arenas: the staging copies go before the index grows.
        drop(raws);
        drop(staging);
        for id in 0..a.nodes.len() as u32 {
            let cut = id as usize != apex && a.get(id, rtype::NS).is_some();
            let dname = a.get(id, rtype::DNAME).is_some();
            if a.get(id, rtype::CNAME).is_some()
                && a.sets(id)
                    .iter()
                    .any(|r| !matches!(r.rtype, rtype::CNAME | rtype::NSEC | rtype::RRSIG))
            {
                return Err(err(format!(
                    "{}: CNAME and other data",
                    wire::display(a.name(id))
                )));
            }
            if id as usize != apex && a.get(id, rtype::SOA).is_some() {
                return Err(err(format!(
                    "SOA record at {}, which is not the apex",
                    wire::display(a.name(id))
                )));
            }
            let node = &mut a.nodes[id as usize];
            node.cut = cut;
            node.dname = dname;
        }

        // The SOA, and the negative TTL.
        let soa = *a
            .get(apex as u32, rtype::SOA)
            .ok_or_else(|| err(format!("zone {origin} has no SOA record at its apex")))?;
        if soa.rrs.count != 1 {
            return Err(err(format!(
                "zone {origin} has {} SOA records at its apex",
                soa.rrs.count
            )));
        }
        let (ttl, serial, minimum) = {
            let (h, rd) = a
                .wire(soa.rrs)
                .iter()
                .next()
                .ok_or_else(|| err("empty SOA"))?;
            let ttl = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
            let fixed = soa_fixed(rd).ok_or_else(|| err("malformed SOA"))?;
            let field =
                |at: usize| u32::from_be_bytes([rd[at], rd[at + 1], rd[at + 2], rd[at + 3]]);
            (ttl, field(fixed), field(fixed + 16))
        };
        let neg_soa = with_ttl(&mut a.wire, soa.rrs, ttl.min(minimum))?;
        let neg_soa_sigs = match soa.sigs {
            Some(s) => Some(with_ttl(&mut a.wire, s, ttl.min(minimum))?),
            None => None,
        };

        // Wildcards, additional targets.
        for id in 0..a.nodes.len() {
            let name = name_of(&a.names, &a.nodes[id]);
            if name.first() == Some(&1) && name.get(1) == Some(&b'*') {
                let parent = wire::canonical(&name[2..]);
                if let Some(p) = find_node(&map, &a.names, &a.nodes, &parent) {
                    a.nodes[p as usize].wildcard = Some(id as u32);
                }
            }
        }
        let mut targets = Vec::new();
        for r in 0..a.sets.len() {
            let Some(off) = target_offset(a.sets[r].rtype) else {
                continue;
            };
            targets.clear();
            for (_, rd) in a.wire(a.sets[r].rrs).iter() {
                let Some(end) = wire::name_end(rd, off) else {
                    continue;
                };
                let key = wire::canonical(&rd[off..end]);
                if let Some(t) = find_node(&map, &a.names, &a.nodes, &key) {
                    if (a.get(t, rtype::A).is_some() || a.get(t, rtype::AAAA).is_some())
                        && !targets.contains(&t)
                    {
                        targets.push(t);
                    }
                }
            }
            if !targets.is_empty() {
                a.sets[r].targets_at = offset(a.targets.len())?;
                a.sets[r].targets_len = u16::try_from(targets.len()).unwrap_or(u16::MAX);
                a.targets
                    .extend_from_slice(&targets[..a.sets[r].targets_len as usize]);
            }
        }
        a.sets.shrink_to_fit();
        a.wire.shrink_to_fit();
        a.targets.shrink_to_fit();

        let mut zone = Zone {
            origin: origin.clone(),
            origin_key,
            origin_labels,
            nodes: a.nodes,
            names: a.names,
            sets: a.sets,
            wire: a.wire,
            targets: a.targets,
            map,
            serial,
            neg_soa,
            neg_soa_sigs,
            nsec_order: Vec::new(),
            nsec3: None,
            signed: soa.sigs.is_some(),
        };
        // DNSSEC: NSEC chain order and NSEC3 hashes.
        let mut nsec_order: Vec<(Box<[u8]>, u32)> = (0..zone.nodes.len() as u32)
            .map(|i| zone.node(i))
            .enumerate()
            .filter(|(_, n)| n.has(rtype::NSEC))
            .map(|(i, n)| (wire::canonical(n.name), i as u32))
            .collect();
        nsec_order.sort_by(|a, b| wire::canonical_cmp(&a.0, &b.0));
        zone.nsec_order = nsec_order;
        zone.nsec3 = nsec3_index(&zone);
        Ok(zone)
    }
}

impl Zone {
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
        for node in self.nodes() {
            let Ok(owner) = Name::from_octets(Bytes::copy_from_slice(node.name)) else {
                continue;
            };
            let sets = node
                .rrsets()
                .flat_map(|r| std::iter::once(r.rrs).chain(r.sigs));
            for rrs in sets.chain(node.orphan_sigs) {
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
    pub(crate) fn node(&self, id: u32) -> Node<'_> {
        let d = &self.nodes[id as usize];
        Node {
            zone: self,
            name: name_of(&self.names, d),
            sets: &self.sets[d.rrsets_at as usize..d.rrsets_at as usize + d.rrsets_len as usize],
            orphan_sigs: d.orphan_sigs.map(|r| self.rrs(r)),
        }
    }

    #[inline]
    pub(crate) fn apex(&self) -> Node<'_> {
        self.node(0)
    }

    /// Every node, in id order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = Node<'_>> {
        (0..self.nodes.len() as u32).map(|i| self.node(i))
    }

    #[inline]
    fn rrs(&self, r: RrsAt) -> Rrs<'_> {
        Rrs {
            count: r.count,
            wire: &self.wire[r.at as usize..r.at as usize + r.len as usize],
        }
    }

    #[inline]
    fn rrset(&self, d: &RRsetData) -> RRset<'_> {
        RRset {
            rrs: self.rrs(d.rrs),
            sigs: d.sigs.map(|r| self.rrs(r)),
            targets: &self.targets
                [d.targets_at as usize..d.targets_at as usize + d.targets_len as usize],
        }
    }

    /// The SOA as a negative answer's authority section carries it (RFC 2308 §3).
    #[inline]
    pub(crate) fn neg_soa(&self) -> Rrs<'_> {
        self.rrs(self.neg_soa)
    }

    /// The SOA's signatures with the negative TTL.
    #[inline]
    pub(crate) fn neg_soa_sigs(&self) -> Option<Rrs<'_>> {
        self.neg_soa_sigs.map(|r| self.rrs(r))
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
            match find_node(&self.map, &self.names, &self.nodes, s) {
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

/// Appends a copy of the records at `r` with every TTL set to `ttl`.
fn with_ttl(wire: &mut Vec<u8>, r: RrsAt, ttl: u32) -> Result<RrsAt, ZoneError> {
    let at = wire.len();
    wire.extend_from_within(r.at as usize..r.at as usize + r.len as usize);
    let w = &mut wire[at..];
    let mut pos = 0;
    while pos + 10 <= w.len() {
        w[pos + 4..pos + 8].copy_from_slice(&ttl.to_be_bytes());
        pos += 10 + u16::from_be_bytes([w[pos + 8], w[pos + 9]]) as usize;
    }
    Ok(RrsAt {
        count: r.count,
        at: offset(at)?,
        len: r.len,
    })
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

/// Compiles records of one type into wire form at the end of `wire`, dropping duplicates.
fn compile(
    rt: u16,
    staging: &[u8],
    rrs: &[RawRecord],
    wire: &mut Vec<u8>,
) -> Result<RrsAt, ZoneError> {
    let rd = |r: &RawRecord| &staging[r.at as usize..r.at as usize + r.len as usize];
    let at = wire.len();
    let mut count = 0u16;
    for (k, r) in rrs.iter().enumerate() {
        if rrs[..k].iter().any(|p| rd(p) == rd(r)) {
            continue;
        }
        wire::put_u16(wire, rt);
        wire::put_u16(wire, 1);
        wire::put_u32(wire, r.ttl);
        wire::put_u16(wire, r.len);
        wire.extend_from_slice(rd(r));
        count = count.saturating_add(1);
    }
    Ok(RrsAt {
        count,
        at: offset(at)?,
        len: offset(wire.len() - at)?,
    })
}

fn nsec3_index(zone: &Zone) -> Option<Nsec3Index> {
    let param = zone.apex().get(rtype::NSEC3PARAM)?;
    let (_, rd) = param.rrs.iter().next()?;
    if rd.len() < 5 || rd[0] != 1 {
        return None;
    }
    let iterations = u16::from_be_bytes([rd[2], rd[3]]);
    let salt_len = rd[4] as usize;
    let salt: Box<[u8]> = rd.get(5..5 + salt_len)?.into();
    let mut hashes = Vec::new();
    for (id, node) in zone.nodes().enumerate() {
        if !node.has(rtype::NSEC3) {
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
