"""The local AWS: moto's server with this project's additions loaded into it."""
