DROP TABLE envelopes;
DROP TABLE one_time_prekeys;
DROP TABLE device_keys;
DROP TABLE user_keys;
