# Recipe-specific environment, sourced last by path.sh (ESPnet convention). Nothing is
# needed beyond the toolkit's Python today; site settings (HF_HOME, caches) go here.
