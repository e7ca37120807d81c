//! Interim zone-file reading through `domain`'s own scanner, used only until this crate's
//! scanner ([`crate::zonefile`]) loads files. One function, switched in [`crate::load_zone`].

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use domain::base::name::FlattenInto;
use domain::base::Name;
use domain::zonefile::inplace::{Entry, Zonefile};

use crate::zonefile::{
    LoadedZone, RecordData, SourceLocation, ZoneFileError, ZoneFileErrors, ZoneRecord,
};

/// Reads zone text with `domain`'s scanner ($INCLUDE not followed).
pub fn parse(
    text: &str,
    origin: Option<&Name<Bytes>>,
    file: &Path,
) -> Result<LoadedZone, ZoneFileErrors> {
    let fail = |message: String| ZoneFileErrors {
        errors: vec![ZoneFileError {
            location: SourceLocation {
                file: Arc::from(file),
                line: 0,
                column: 0,
            },
            message,
        }],
    };
    let mut zf = Zonefile::new();
    zf.set_default_class(domain::base::iana::Class::IN);
    zf.extend_from_slice(text.as_bytes());
    if let Some(o) = origin {
        zf.set_origin(o.clone());
    }
    let mut records = Vec::new();
    loop {
        match zf.next_entry() {
            Ok(Some(Entry::Record(r))) => {
                let class = r.class();
                let ttl = r.ttl();
                let (owner, data) = r.into_owner_and_data();
                let owner: Name<Bytes> = owner.flatten_into();
                let data: RecordData = data.flatten_into();
                records.push(ZoneRecord {
                    owner,
                    class,
                    ttl,
                    data,
                    location: SourceLocation {
                        file: Arc::from(file),
                        line: 0,
                        column: 0,
                    },
                });
            }
            Ok(Some(Entry::Include { .. })) => {
                return Err(fail("$INCLUDE is not supported here".into()))
            }
            Ok(None) => break,
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    let origin = match origin {
        Some(o) => o.clone(),
        None => records
            .iter()
            .find(|r| r.rtype() == domain::base::iana::Rtype::SOA)
            .map(|r| r.owner.clone())
            .ok_or_else(|| fail("no origin given and no SOA record".into()))?,
    };
    Ok(LoadedZone {
        origin,
        records,
        warnings: Vec::new(),
    })
}
