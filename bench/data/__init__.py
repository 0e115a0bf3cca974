"""Data loaders, one module per workload family; every loader returns a DataBundle of in-memory tensors."""
