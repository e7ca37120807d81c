//! Compose files turned into running stacks: desired state, and the reconciler that starts
//! replicas through the engine, puts them behind the proxy and publishes their names in DNS.
