//! Containers as podman users know them: lifecycle verbs, the state database, the per-container
//! monitor process, volumes and health checks. No daemon.
//!
//! It builds OCI bundles from images and hands them to the runtime (its own or an external one
//! such as runc); it does not isolate processes itself.
