"""entrylint: static analysis of x86-64 Linux kernel entry assembly.

The package is laid out as the pipeline it runs (imports point only down it):

    source -> cpp -> gas -> program -> analysis -> findings/plugins -> report -> faces

``entrylint.api`` runs the stages in order.
"""

__version__ = "0.1.0"
