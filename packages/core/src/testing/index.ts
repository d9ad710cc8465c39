export { describeBackendContract, type BackendContractOptions, type ContractCase } from './contract.js';
