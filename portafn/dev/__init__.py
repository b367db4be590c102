"""Local stand-ins for cloud services: start, wait for, and stop real emulator processes."""
