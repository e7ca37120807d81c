//! nsd.conf: NSD's configuration format, as NSD users have it (nsd.conf(5) of NSD 4).
//!
//! Read: `server:` (ip-address/interface, port, zonesdir, pidfile, server-count,
//! minimal-responses, rrl-*), `zone:` (name, zonefile, notify, provide-xfr, include-pattern,
//! rrl-whitelist), `pattern:` (the zone options plus name), `key:` (name, algorithm, secret)
//! and `include:` (glob patterns, anywhere). Every other option NSD knows is accepted and named in a warning,
//! since dermaga does not use it; an option NSD does not know is an error. Errors and warnings
//! carry file:line:column. This module does not use anything outside the file: it does not
//! check that zone files exist (the loader reports that).

mod model;
mod options;
mod parse;

pub use model::{
    AclAddress, AclEntry, AclKey, ConfError, ConfErrors, KeyConfig, NsdConf, RrlOptions,
    ServerOptions, ZoneConfig,
};

use std::path::Path;

/// Reads an nsd.conf and the files it includes.
pub fn load_nsd_conf(path: &Path) -> Result<NsdConf, ConfErrors> {
    parse::load(path)
}

/// Reads nsd.conf text; `file_name` names positions and anchors relative paths.
pub fn parse_nsd_conf_str(text: &str, file_name: &Path) -> Result<NsdConf, ConfErrors> {
    parse::load_str(text, file_name)
}
