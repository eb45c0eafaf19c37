"""deep-deblur: CNNs that remove Gaussian and motion blur (CARLO_NET, KAIST_NET, ATROUS_NET)."""

__version__ = "0.1.0"
