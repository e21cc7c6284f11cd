"""avsc_lib: helpers of the avsc study (audio-visual scene classification, DCASE 2021).

Import as ``import avsc_lib as avsc``; submodules hold one job each (see the README).
"""

__version__ = "0.1.0"
