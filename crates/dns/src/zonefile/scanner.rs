//! The zone-file scanner's driver: directives, includes and records.

use std::path::PathBuf;

use bytes::Bytes;
use domain::base::Name;

use super::{LoadedZone, ZoneFileErrors};

pub(crate) enum Input<'a> {
    File(PathBuf),
    Text { text: &'a [u8], name: PathBuf },
}

pub(crate) fn load(_input: Input<'_>, _origin: Option<&Name<Bytes>>) -> Result<LoadedZone, ZoneFileErrors> {
    Err(ZoneFileErrors { errors: Vec::new() })
}
