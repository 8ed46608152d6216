"""Benchmarks behind ``omni-ros bench``. Results are ratios against a baseline measured in the
same run, because absolute times depend on the machine."""
