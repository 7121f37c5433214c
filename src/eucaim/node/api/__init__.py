"""The node's HTTP surface: dependencies, error mapping and routes."""
