"""Configuration: matrix.toml read once, validated whole, and returned as typed values."""
