"""Dataset making for l3net: `l3net_data` (cli), the converter (convert, manifest, shard_writer) and
the synthetic sound world (synthetic).

`data_tools` depends on `l3net` (record schema, media decode/encode, atomic writes), never the
reverse: the l3net library and tools work without this package (tests/test_package_layout.py).
"""
