"""Code that runs in AWS Lambda, not on the owner's machine: standard library and boto3 only.

`cafepipe.deploy.alerts` zips each module with the settings it needs; `cafepipe report`
imports the same module to run the same code locally.
"""
