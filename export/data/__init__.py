"""Training data: the MUSDB18-HQ loader and the synthetic multitrack corpus generator."""
