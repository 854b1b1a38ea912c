"""The ormcli terminal tool."""
