"""Training, data, quantization, exporters and the upstream checkpoint converter."""
