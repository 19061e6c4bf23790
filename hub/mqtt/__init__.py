"""The MQTT side of the hub: the paho session (TLS, publish), the topic layout and the broker ACL."""
