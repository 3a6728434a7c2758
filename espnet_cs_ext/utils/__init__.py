"""Small shared helpers: errors, atomic writes, Kaldi-style tables. No heavy imports."""
