//! `dm-image`: pull and manage images from the command line.

fn main() {}
