"""Guardian on MQTT: the broker link, topics, the site's publisher and commands, and Home
Assistant discovery.

MQTT is a notification and transport path, not the record: the database is.
"""

from guardian.mqtt.link import Message, MqttError, MqttLink, Will
from guardian.mqtt.topics import OFFLINE, ONLINE, Topics

__all__ = ["OFFLINE", "ONLINE", "Message", "MqttError", "MqttLink", "Topics", "Will"]
