//! content-addressed blob store as a library and a containerd proxy plugin
