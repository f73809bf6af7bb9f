"""The report: results and matrix.toml in, matrix.json, index.html, junit.xml, summary.md and the verdict out."""
