import { ApiProperty } from '@nestjs/swagger';
import { IsString, Length } from 'class-validator';
import { IsNewPassword } from '../../users/password-policy.js';

export class ChangePasswordDto {
  @ApiProperty({ example: 'correct horse battery', description: 'The password in use now' })
  @IsString()
  @Length(1, 128)
  currentPassword: string;

  @IsNewPassword()
  newPassword: string;
}
