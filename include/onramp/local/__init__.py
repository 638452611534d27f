"""Running Onramp on one machine: embedded servers, background processes, the local Airflow, the demo,
the example web page and the simulated source application.

Nothing in production code imports this package: a deployment (docker-compose.yaml) runs the same
production modules with its own servers and Airflow.
"""
