//! haproxy.cfg: the file syntax, the keywords dermaga implements, and the model they produce.
