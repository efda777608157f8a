"""Helpers the test suites share: real servers started and stopped by the tests."""
