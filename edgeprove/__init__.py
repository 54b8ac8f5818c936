"""edgeprove: prove quantized neural-network inference within a device's memory, and measure that it fits.

The package, from the bottom up (docs/architecture.md has the whole map): the argument system (``field``,
``poly``, ``transcript``, ``sumcheck``, ``lookup``, ``commit/``); the network (``model/``, ``layers/``);
the protocol walk (``claims``, ``proof``, ``protocol``, ``prover``, ``verifier``, ``plan``); the harness
(``process/``, ``harness/``, ``exitcodes``); the studies (``study/``, ``peers/``); the command line
(``cli/``).
"""

__version__ = "0.1.0"
