"""Onramp: open data platform for personalized customer onboarding (logic importable without Airflow)."""
