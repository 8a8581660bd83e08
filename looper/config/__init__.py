"""The YAML file: read with its line numbers, validated once into frozen, typed objects."""
