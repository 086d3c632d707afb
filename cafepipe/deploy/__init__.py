"""Deploying the stack: templates, render, dashboard, Terraform, lifecycle, the emulator."""
