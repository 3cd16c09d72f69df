"""gluon_convattn: MXNet/Gluon ports of ATAC, SAN, ACmix, KAConv and AT-kernel."""
__version__ = '0.1.0'
