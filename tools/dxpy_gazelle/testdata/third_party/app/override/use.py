import yaml
import requests.adapters
