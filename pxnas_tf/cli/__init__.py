"""The `pxnas` command line (absl flags): thin wrappers over the library."""
