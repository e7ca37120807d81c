//! nsd.conf: NSD's configuration format, as NSD users have it.
