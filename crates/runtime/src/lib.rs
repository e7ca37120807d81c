//! dermaga's low-level container runtime: an OCI runtime spec in, an isolated process out.
//!
//! Synchronous and single-threaded by design (clone, unshare, pivot_root): it is entered only
//! from a freshly exec'd `dermaga` process, never from a fork of a multi-threaded one. It is
//! not a container manager; lifecycle bookkeeping lives in the engine.
