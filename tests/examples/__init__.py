"""Tests of the example project and its demo script."""
