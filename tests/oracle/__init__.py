"""Test oracles: objdump of real objects (objdump.py) and its comparison with
`entrylint expand --format json` (compare.py).  Test code only."""
