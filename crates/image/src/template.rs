//! Go-template style `--format` strings.
